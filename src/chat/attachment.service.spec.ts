import { ApiError } from '../common/errors/api-error';
import { testConfig } from '../config/test-config';
import type { UploadedFile, UploadedFileStore } from '../files/uploaded-file.store';
import { AttachmentService } from './attachment.service';
import type { ClientFileFetcher } from './client-file.fetcher';
import type { ChatMessageDto } from './dto/chat-completion.dto';
import type { UpstreamFileUploader } from './upstream-file.uploader';

const OWNER = 'a'.repeat(64);
const ID = `file-${'A'.repeat(24)}`;

describe('AttachmentService with files uploaded to /v1/files', () => {
  const record = (bytes: number): UploadedFile => ({
    id: ID,
    bytes,
    createdAt: 0,
    filename: 'big.pdf',
    purpose: 'user_data',
    mimeType: 'application/pdf',
    expiresAt: null,
  });
  const serviceWith = (file: UploadedFile) => {
    const store = {
      find: jest.fn(() => Promise.resolve(file)),
      content: jest.fn(() => Promise.resolve({ file, bytes: Buffer.alloc(file.bytes) })),
    };
    const service = new AttachmentService(
      testConfig({ maxAttachmentsBytes: 1024 }),
      {} as ClientFileFetcher,
      {} as UpstreamFileUploader,
      store as unknown as UploadedFileStore,
    );
    return { service, store };
  };
  const naming = (id: string): ChatMessageDto[] =>
    [{ role: 'user', content: [{ type: 'file', file: { file_id: id } }] }] as ChatMessageDto[];

  it('refuses a file past MAX_ATTACHMENTS_SIZE by the size its record gives, without reading its bytes', async () => {
    const { service, store } = serviceWith(record(4096));
    const refused = await service.open(naming(ID), new AbortController().signal, undefined, OWNER).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ApiError);
    expect((refused as ApiError).body.error).toMatchObject({ code: 'attachments_too_large', param: 'messages[0].content[0].file.file_id' });
    expect(store.content).not.toHaveBeenCalled();
  });

  it('reads a file within the budget', async () => {
    const { service, store } = serviceWith(record(100));
    const messages = naming(ID);
    const files = await service.open(messages, new AbortController().signal, undefined, OWNER);
    const [part] = messages[0].content as Parameters<typeof files.get>[0][];
    expect(files.get(part)).toEqual({ bytes: Buffer.alloc(100), mimeType: 'application/pdf', name: 'big.pdf' });
    expect(store.content).toHaveBeenCalledWith(OWNER, ID);
  });
});
