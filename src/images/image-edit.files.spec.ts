import sharp from 'sharp';
import { ApiError } from '../common/errors/api-error';
import type { FormFile } from '../common/http/request-body';
import { assertReferencesUsable, checkedReferencedImage, editImagesOf, type ImageEditFiles } from './image-edit.files';

let PNG: Buffer;
let SMALL_PNG: Buffer;

function solidPng(size: number): Promise<Buffer> {
  return sharp({ create: { width: size, height: size, channels: 3, background: '#10a37f' } })
    .png()
    .toBuffer();
}

beforeAll(async () => {
  [PNG, SMALL_PNG] = await Promise.all([solidPng(8), solidPng(4)]);
});
const JPEG_HEADER = Buffer.from([0xff, 0xd8, 0xff, 0xe0]);

function file(buffer: Buffer, mimetype = 'image/png'): FormFile {
  return { buffer, mimetype, originalname: 'a.png' };
}

async function refusal(files: ImageEditFiles | undefined, model = 'gpt-image-1'): Promise<ApiError['body']['error'] & { status: number }> {
  try {
    await editImagesOf(files, model);
  } catch (error) {
    if (error instanceof ApiError) return { ...error.body.error, status: error.getStatus() };
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('editImagesOf', () => {
  it('takes the images of `image` and `image[]` in order, typed by their bytes', async () => {
    const other = SMALL_PNG;
    const images = await editImagesOf({ image: [file(PNG, 'application/octet-stream')], 'image[]': [file(other)] }, 'gpt-image-1');
    expect(images).toEqual([
      { bytes: PNG, mimeType: 'image/png' },
      { bytes: other, mimeType: 'image/png' },
    ]);
  });

  it('requires an image, and refuses a mask rather than ignore it', async () => {
    expect(await refusal(undefined)).toMatchObject({ status: 400, param: 'image', code: 'missing_required_parameter' });
    expect(await refusal({ mask: [file(PNG)] })).toMatchObject({ param: 'image', code: 'missing_required_parameter' });
    expect(await refusal({ image: [file(PNG)], mask: [file(PNG)] })).toMatchObject({
      status: 400,
      param: 'mask',
      code: 'unsupported_parameter',
    });
  });

  it('refuses a file that is no image, or one of a type the model does not read, naming it', async () => {
    const text = await refusal({ image: [file(Buffer.from('hello'), 'text/plain')] });
    expect(text).toMatchObject({ status: 400, param: 'image', code: 'unsupported_file_mimetype' });
    expect(text.message).toContain("unsupported mimetype ('text/plain')");
    const gif = Buffer.concat([Buffer.from('GIF89a'), Buffer.alloc(10)]);
    expect(await refusal({ image: [file(PNG), file(gif, 'image/gif')] })).toMatchObject({
      param: 'image[1]',
      code: 'unsupported_file_mimetype',
    });
    expect(await refusal({ image: [file(Buffer.concat([JPEG_HEADER, Buffer.alloc(8)]))] }, 'dall-e-2')).toMatchObject({
      param: 'image',
      code: 'unsupported_file_mimetype',
    });
  });

  it('refuses dall-e-3 as OpenAI does (it only generates), naming model, before looking at the images', async () => {
    for (const model of ['dall-e-3', 'dall-e-3-hd']) {
      const refused = await refusal({ image: [file(PNG)] }, model);
      expect(refused).toMatchObject({ status: 400, type: 'invalid_request_error', param: 'model', code: 'invalid_value' });
      expect(refused.message).toMatch(new RegExp(`^Invalid value: '${model}'\\. Supported values are: 'dall-e-2', 'gpt-image-1'`));
    }
    expect(await refusal(undefined, 'dall-e-3')).toMatchObject({ param: 'model' });
    expect(await editImagesOf({ image: [file(PNG)] }, 'dall-e-2')).toHaveLength(1);
  });

  it('refuses a broken image whose header looks right', async () => {
    const cut = await refusal({ image: [file(PNG.subarray(0, PNG.length - 20))] });
    expect(cut).toMatchObject({ status: 400, param: 'image', code: 'invalid_image_file' });
  });

  it("holds to OpenAI's limits per model: dall-e-2 one PNG under 4MB, the GPT image models 16 images under 50MB", async () => {
    expect(await refusal({ image: [file(PNG), file(PNG)] }, 'dall-e-2')).toMatchObject({ param: 'image', code: 'invalid_value' });
    const fourMb = Buffer.concat([PNG, Buffer.alloc(4 * 1024 * 1024)]);
    expect(await refusal({ image: [file(fourMb)] }, 'dall-e-2')).toMatchObject({
      status: 400,
      param: 'image',
      code: 'image_file_too_large',
    });
    const fiftyMb = Buffer.concat([PNG, Buffer.alloc(50 * 1024 * 1024)]);
    expect(await refusal({ image: [file(fiftyMb)] })).toMatchObject({ status: 400, param: 'image', code: 'image_file_too_large' });
    expect(await refusal({ image: Array.from({ length: 17 }, () => file(PNG)) })).toMatchObject({ param: 'image', code: 'invalid_value' });
    expect(await editImagesOf({ image: Array.from({ length: 16 }, () => file(PNG)) }, 'gpt-image-1')).toHaveLength(16);
  });
});

describe('assertReferencesUsable', () => {
  const refusalOf = (run: () => void) => {
    try {
      run();
    } catch (error) {
      if (error instanceof ApiError) return error.body.error;
      throw error;
    }
    return undefined;
  };

  it('takes the references of a GPT image model without a mask', () => {
    expect(refusalOf(() => assertReferencesUsable('gpt-image-1', undefined))).toBeUndefined();
  });

  it('refuses dall-e-2, a mask and files beside the references, naming the field', () => {
    expect(refusalOf(() => assertReferencesUsable('dall-e-2', undefined))).toMatchObject({ param: 'model', code: 'invalid_value' });
    expect(refusalOf(() => assertReferencesUsable('gpt-image-1', { file_id: 'file-1' }))).toMatchObject({ param: 'mask' });
    const files = { image: [file(PNG)] };
    expect(refusalOf(() => assertReferencesUsable('gpt-image-1', undefined, files))).toMatchObject({ param: 'images' });
  });
});

describe('checkedReferencedImage', () => {
  it('checks a referenced image by its bytes and names the reference in a refusal', async () => {
    const read = { bytes: PNG, mimeType: 'application/octet-stream', name: 'a.png' };
    expect(await checkedReferencedImage(read, 'images[0].file_id', 'gpt-image-1')).toEqual({ bytes: PNG, mimeType: 'image/png' });
    const text = { bytes: Buffer.from('just text'), mimeType: 'text/plain' };
    await expect(checkedReferencedImage(text, 'images[1].file_id', 'gpt-image-1')).rejects.toMatchObject({
      body: { error: { param: 'images[1].file_id', code: 'unsupported_file_mimetype' } },
    });
  });
});
