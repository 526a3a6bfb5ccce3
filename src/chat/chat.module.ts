import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { SharedStateModule } from '../common/shared-state/shared-state.module';
import { PowModule } from '../pow/pow.module';
import { AttachmentService } from './attachment.service';
import { AttemptPolicy } from './attempts/attempt-policy';
import { AttemptRunner } from './attempts/attempt-runner';
import { ChatController } from './chat.controller';
import { ChatService } from './chat.service';
import { ConversationService } from './conversation.service';
import { HandoffService } from './handoff/handoff.service';
import { ModelCapTracker } from './model-cap.tracker';
import { ModelsService } from './models.service';
import { TokenCounter } from './token-counter';

@Module({
  imports: [AuthModule, PowModule, SharedStateModule],
  controllers: [ChatController],
  providers: [ChatService, ConversationService, AttemptPolicy, AttemptRunner, ModelsService, AttachmentService, TokenCounter, ModelCapTracker, HandoffService],
  exports: [ChatService],
})
export class ChatModule {}
