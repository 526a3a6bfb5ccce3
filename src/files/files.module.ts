import { Module } from '@nestjs/common';
import { AdminModule } from '../admin/admin.module';
import { AuthModule } from '../auth/auth.module';
import { SharedStateModule } from '../common/shared-state/shared-state.module';
import { FileLinkService } from './file-link.service';
import { FilesController } from './files.controller';
import { LinkTokenSeal } from './link-token-seal';

/** Durable `/files/{id}` links to files the upstream generated. */
@Module({
  imports: [AuthModule, SharedStateModule, AdminModule],
  controllers: [FilesController],
  providers: [FileLinkService, LinkTokenSeal],
  exports: [FileLinkService],
})
export class FilesModule {}
