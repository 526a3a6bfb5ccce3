import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { ApiCredential } from '../auth/api-credential';
import { ApiAuthenticated, Credential } from '../auth/api-credential.guard';
import { abortWhenClientLeaves } from '../common/http/abort-on-close';
import { ApiKeyOwner } from '../auth/api-key-owner.decorator';
import { CreateResponseDto } from './dto/create-response.dto';
import { ListInputItemsQuery } from './dto/list-input-items.dto';
import type { InputItemList } from './input-items';
import type { DeletedResponse, ResponseObject } from './response-shapes';
import { ResponsesService } from './responses.service';
import { LargeBody, ReadsBody } from '../common/http/request-body';
import { FileLinkService } from '../files/file-link.service';

@Controller('v1/responses')
@ApiAuthenticated()
export class ResponsesController {
  constructor(
    private readonly responses: ResponsesService,
    private readonly fileLinks: FileLinkService,
  ) {}

  @Post()
  @ReadsBody()
  @LargeBody()
  @HttpCode(200)
  async create(
    @Body() body: CreateResponseDto,
    @Credential() credential: ApiCredential,
    @ApiKeyOwner() owner: string,
    @Req() request: Request,
    @Res() response: Response,
  ): Promise<void> {
    const signal = abortWhenClientLeaves(request, response);
    const origin = this.fileLinks.originFor(request);
    if (body.stream) await this.responses.stream(body, credential, owner, response, signal, origin);
    else response.json(await this.responses.create(body, credential, owner, signal, origin));
  }

  @Get(':id')
  retrieve(@Param('id') id: string, @Query('stream') stream: unknown, @ApiKeyOwner() owner: string): Promise<ResponseObject> {
    return this.responses.retrieve(id, owner, stream === 'true');
  }

  @Get(':id/input_items')
  inputItems(@Param('id') id: string, @Query() query: ListInputItemsQuery, @ApiKeyOwner() owner: string): Promise<InputItemList> {
    return this.responses.inputItems(id, owner, query);
  }

  @Delete(':id')
  delete(@Param('id') id: string, @ApiKeyOwner() owner: string): Promise<DeletedResponse> {
    return this.responses.delete(id, owner);
  }
}
