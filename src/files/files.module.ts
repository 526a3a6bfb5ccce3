import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { SharedStateModule } from '../common/shared-state/shared-state.module';
import { FileLinkService } from './file-link.service';
import { FilesController } from './files.controller';

/** Durable `/files/{id}` links to files the upstream generated. */
@Module({
  imports: [AuthModule, SharedStateModule],
  controllers: [FilesController],
  providers: [FileLinkService],
  exports: [FileLinkService],
})
export class FilesModule {}
