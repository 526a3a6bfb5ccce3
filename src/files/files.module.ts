import { Module } from '@nestjs/common';
import { AdminModule } from '../admin/admin.module';
import { AuthModule } from '../auth/auth.module';
import { SharedStateModule } from '../common/shared-state/shared-state.module';
import { FileLinkService } from './file-link.service';
import { FilesApiController } from './files-api.controller';
import { FilesApiService } from './files-api.service';
import { FilesController } from './files.controller';
import { LinkTokenSeal } from './link-token-seal';
import { UploadedFileStore } from './uploaded-file.store';
import { UploaderKnownGuard } from './uploader-known.guard';

/**
 * Files: durable `/files/{id}` links to files the upstream generated, and OpenAI's Files API (`/v1/files`) for files
 * clients upload and then name by `file_id` in a conversation.
 */
@Module({
  imports: [AuthModule, SharedStateModule, AdminModule],
  controllers: [FilesController, FilesApiController],
  providers: [FileLinkService, LinkTokenSeal, UploadedFileStore, FilesApiService, UploaderKnownGuard],
  exports: [FileLinkService, UploadedFileStore],
})
export class FilesModule {}
