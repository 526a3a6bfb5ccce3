import multer from 'multer';
import { bodyRefusal } from './request-body';

describe('bodyRefusal', () => {
  const limit = { bytes: 1024, variable: 'MAX_BODY_SIZE' } as const;

  // multer's own file-size limit said only "too large", where the JSON and form steps name the limit and its variable.
  it('names the limit and its variable for a file over it, as for any body over it', () => {
    const tooLarge = Object.assign(new Error('request entity too large'), { type: 'entity.too.large' });
    expect(bodyRefusal(tooLarge, limit)?.body.error).toEqual({
      message: 'The request body is too large: more than 1024 bytes (MAX_BODY_SIZE).',
      type: 'invalid_request_error',
      param: null,
      code: 'request_too_large',
    });
    expect(bodyRefusal(Object.assign(new multer.MulterError('LIMIT_FILE_SIZE'), { field: 'file' }), limit)?.body.error).toEqual({
      message: 'The request body is too large: more than 1024 bytes (MAX_BODY_SIZE).',
      type: 'invalid_request_error',
      param: 'file',
      code: 'request_too_large',
    });
  });
});
