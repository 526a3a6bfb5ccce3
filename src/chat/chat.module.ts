import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { SharedStateModule } from '../common/shared-state/shared-state.module';
import { FilesModule } from '../files/files.module';
import { PowModule } from '../pow/pow.module';
import { TokenPoolModule } from '../token-pool/token-pool.module';
import { AttachmentService } from './attachment.service';
import { AttemptPolicy } from './attempts/attempt-policy';
import { AttemptRunner } from './attempts/attempt-runner';
import { ChatController } from './chat.controller';
import { ClientFileFetcher } from './client-file.fetcher';
import { ChatService } from './chat.service';
import { ConversationAccounts } from './conversation-accounts';
import { ConversationService } from './conversation.service';
import { HandoffService } from './handoff/handoff.service';
import { ModelCapTracker } from './model-cap.tracker';
import { ModelsService } from './models.service';
import { ClassicSendFlow } from './send-flows/classic-send.flow';
import { FConversationSendFlow } from './send-flows/f-conversation-send.flow';
import { SendFlowSelector } from './send-flows/send-flow.selector';
import { TokenCounter } from './token-counter';
import { UpstreamFileUploader } from './upstream-file.uploader';

@Module({
  imports: [AuthModule, PowModule, SharedStateModule, FilesModule, TokenPoolModule],
  controllers: [ChatController],
  providers: [
    ChatService,
    ConversationService,
    ConversationAccounts,
    AttemptPolicy,
    AttemptRunner,
    ModelsService,
    AttachmentService,
    ClientFileFetcher,
    UpstreamFileUploader,
    TokenCounter,
    ModelCapTracker,
    ClassicSendFlow,
    FConversationSendFlow,
    SendFlowSelector,
    HandoffService,
  ],
  exports: [ChatService, ConversationService, TokenCounter, AttachmentService],
})
export class ChatModule {}
