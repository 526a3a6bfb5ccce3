import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { PowModule } from '../pow/pow.module';
import { TokenPoolModule } from '../token-pool/token-pool.module';
import { AttachmentService } from './attachment.service';
import { ChatController } from './chat.controller';
import { ChatService } from './chat.service';
import { ConversationService } from './conversation.service';
import { ModelCapTracker } from './model-cap.tracker';
import { ModelsService } from './models.service';
import { TokenCounter } from './token-counter';

@Module({
  imports: [AuthModule, PowModule, TokenPoolModule],
  controllers: [ChatController],
  providers: [ChatService, ConversationService, ModelsService, AttachmentService, TokenCounter, ModelCapTracker],
})
export class ChatModule {}
