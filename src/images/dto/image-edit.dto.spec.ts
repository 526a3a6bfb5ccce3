import { ApiError } from '../../common/errors/api-error';
import { createValidationPipe } from '../../common/pipes/validation';
import { ImageEditRequestDto } from './image-edit.dto';

/** The form's text fields as the ValidationPipe hands them to the controller, or the error it answers with. */
async function validated(body: Record<string, unknown>): Promise<ImageEditRequestDto | ApiError> {
  try {
    return (await createValidationPipe().transform(body, { type: 'body', metatype: ImageEditRequestDto })) as ImageEditRequestDto;
  } catch (error) {
    if (error instanceof ApiError) return error;
    throw error;
  }
}

describe('ImageEditRequestDto (multipart text fields)', () => {
  it('reads numbers and booleans from form text, as the openai SDKs send them', async () => {
    const request = await validated({
      prompt: 'a hat',
      model: 'gpt-image-1',
      n: '1',
      output_compression: '60',
      partial_images: '0',
      stream: 'true',
      output_format: 'webp',
      size: '1024x1536',
      quality: 'high',
      background: 'opaque',
      input_fidelity: 'high',
      user: 'someone',
    });
    expect(request).toBeInstanceOf(ImageEditRequestDto);
    expect(request).toMatchObject({ n: 1, output_compression: 60, partial_images: 0, stream: true, output_format: 'webp' });
    expect(await validated({ prompt: 'a hat', stream: 'false' })).toMatchObject({ stream: false });
  });

  it('takes JSON image references and a mask given as a reference (for the service to refuse)', async () => {
    const images = [{ image_url: 'https://example.com/a.png' }, { file_id: 'file-1' }];
    expect(await validated({ prompt: 'a hat', images, mask: { image_url: 'https://example.com/m.png' } })).toMatchObject({ images });
  });

  it.each([
    [{}, 'prompt', 'missing_required_parameter'],
    [{ prompt: '' }, 'prompt', 'invalid_value'],
    [{ prompt: 'x', n: '2' }, 'n', 'invalid_value'],
    [{ prompt: 'x', n: 'two' }, 'n', 'invalid_value'],
    [{ prompt: 'x', output_compression: '101' }, 'output_compression', 'invalid_value'],
    [{ prompt: 'x', stream: 'yes' }, 'stream', 'invalid_value'],
    [{ prompt: 'x', response_format: 'png' }, 'response_format', 'invalid_value'],
    [{ prompt: 'x', input_fidelity: 'medium' }, 'input_fidelity', 'invalid_value'],
    [{ prompt: 'x', size: 'big' }, 'size', 'invalid_value'],
    [{ prompt: 'x', image: 'https://example.com/a.png' }, 'image', 'invalid_value'],
    [{ prompt: 'x', mask: 'data:image/png;base64,AAAA' }, 'mask', 'invalid_value'],
    [{ prompt: 'x', images: [] }, 'images', 'empty_array'],
    [{ prompt: 'x', images: 'https://example.com/a.png' }, 'images', 'invalid_value'],
    [
      { prompt: 'x', images: Array.from({ length: 17 }, () => ({ image_url: 'https://example.com/a.png' })) },
      'images',
      'array_above_max_length',
    ],
    [{ prompt: 'x', images: ['https://example.com/a.png'] }, 'images[0]', 'invalid_value'],
    [{ prompt: 'x', images: [{ image_url: 'https://example.com/a.png' }, {}] }, 'images[1]', 'invalid_value'],
    [{ prompt: 'x', images: [{ image_url: 'https://example.com/a.png', file_id: 'file-1' }] }, 'images[0]', 'invalid_value'],
    [{ prompt: 'x', images: [{ image_url: 42 }] }, 'images[0].image_url', 'invalid_value'],
    [{ prompt: 'x', images: [{ file_id: ' ' }] }, 'images[0].file_id', 'invalid_value'],
  ])('refuses %j with 400 naming %s', async (body, param, code) => {
    const error = await validated(body);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).getStatus()).toBe(400);
    expect((error as ApiError).body.error).toMatchObject({ type: 'invalid_request_error', param, code });
  });
});
