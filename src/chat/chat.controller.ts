import { Body, Controller, Get, HttpCode, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { ApiCredential } from '../auth/api-credential';
import { abortWhenClientLeaves } from '../common/http/abort-on-close';
import { ApiAuthenticated, Credential } from '../auth/api-credential.guard';
import { LargeBody } from '../common/http/request-body';
import { ChatService } from './chat.service';
import { ChatCompletionRequestDto } from './dto/chat-completion.dto';
import { ModelList, ModelsService } from './models.service';

@Controller('v1')
@ApiAuthenticated()
export class ChatController {
  constructor(
    private readonly chat: ChatService,
    private readonly models: ModelsService,
  ) {}

  @Post('chat/completions')
  @HttpCode(200)
  @LargeBody()
  async createCompletion(@Body() body: ChatCompletionRequestDto, @Credential() credential: ApiCredential, @Req() request: Request, @Res() response: Response): Promise<void> {
    const signal = abortWhenClientLeaves(request, response);
    if (body.stream) await this.chat.stream(body, credential, response, signal);
    else response.json(await this.chat.complete(body, credential, signal));
  }

  @Get('models')
  listModels(@Credential() credential: ApiCredential): Promise<ModelList> {
    return this.models.list(credential);
  }
}
