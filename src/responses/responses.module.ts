import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { ChatModule } from '../chat/chat.module';
import { FilesModule } from '../files/files.module';
import { ResponseStore } from './response.store';
import { ResponsesController } from './responses.controller';
import { ResponsesService } from './responses.service';

@Module({
  imports: [AuthModule, ChatModule, FilesModule],
  controllers: [ResponsesController],
  providers: [ResponsesService, ResponseStore],
})
export class ResponsesModule {}
