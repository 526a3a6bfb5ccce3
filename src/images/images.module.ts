import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { ChatModule } from '../chat/chat.module';
import { FilesModule } from '../files/files.module';
import { ImagesController } from './images.controller';
import { ImagesService } from './images.service';

/** `POST /v1/images/generations`, drawn by the web backend's image tool. */
@Module({
  imports: [AuthModule, ChatModule, FilesModule],
  controllers: [ImagesController],
  providers: [ImagesService],
})
export class ImagesModule {}
