import { Body, Controller, Get, HttpCode, Param, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { ApiCredential } from '../auth/api-credential';
import { abortWhenClientLeaves } from '../common/http/abort-on-close';
import { ApiAuthenticated, Credential } from '../auth/api-credential.guard';
import { ApiKeyOwner } from '../auth/api-key-owner.decorator';
import { LargeBody, ReadsBody } from '../common/http/request-body';
import { FileLinkService } from '../files/file-link.service';
import { ChatService } from './chat.service';
import { ChatCompletionRequestDto } from './dto/chat-completion.dto';
import { ModelEntry, ModelList, ModelsService } from './models.service';

@Controller('v1')
@ApiAuthenticated()
export class ChatController {
  constructor(
    private readonly chat: ChatService,
    private readonly models: ModelsService,
    private readonly fileLinks: FileLinkService,
  ) {}

  @Post('chat/completions')
  @ReadsBody()
  @HttpCode(200)
  @LargeBody()
  async createCompletion(
    @Body() body: ChatCompletionRequestDto,
    @Credential() credential: ApiCredential,
    @ApiKeyOwner() owner: string,
    @Req() request: Request,
    @Res() response: Response,
  ): Promise<void> {
    const signal = abortWhenClientLeaves(request, response);
    const origin = this.fileLinks.originFor(request);
    if (body.stream) await this.chat.stream(body, credential, response, signal, origin, owner);
    else response.json(await this.chat.complete(body, credential, signal, origin, owner));
  }

  @Get('models')
  listModels(@Credential() credential: ApiCredential): Promise<ModelList> {
    return this.models.list(credential);
  }

  @Get('models/:model')
  retrieveModel(@Param('model') model: string, @Credential() credential: ApiCredential): Promise<ModelEntry> {
    return this.models.retrieve(credential, model);
  }
}
