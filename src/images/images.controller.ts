import { Body, Controller, HttpCode, Post, Req, Res } from '@nestjs/common';
import { ReadsBody } from '../common/http/request-body';
import type { Request, Response } from 'express';
import type { ApiCredential } from '../auth/api-credential';
import { ApiAuthenticated, Credential } from '../auth/api-credential.guard';
import { abortWhenClientLeaves } from '../common/http/abort-on-close';
import { FileLinkService } from '../files/file-link.service';
import { ImageGenerationRequestDto } from './dto/image-generation.dto';
import { ImagesService } from './images.service';

@Controller('v1/images')
@ApiAuthenticated()
export class ImagesController {
  constructor(
    private readonly images: ImagesService,
    private readonly fileLinks: FileLinkService,
  ) {}

  @Post('generations')
  @ReadsBody()
  @HttpCode(200)
  async generate(
    @Body() body: ImageGenerationRequestDto,
    @Credential() credential: ApiCredential,
    @Req() request: Request,
    @Res() response: Response,
  ): Promise<void> {
    const signal = abortWhenClientLeaves(request, response);
    if (body.stream) await this.images.stream(body, credential, response, signal);
    else response.json(await this.images.generate(body, credential, signal, this.fileLinks.originFor(request)));
  }
}
