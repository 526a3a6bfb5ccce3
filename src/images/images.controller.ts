import { Body, Controller, HttpCode, Post, Req, Res, UploadedFiles } from '@nestjs/common';
import { LargeBody, MultipartBody, ReadsBody } from '../common/http/request-body';
import type { Request, Response } from 'express';
import type { ApiCredential } from '../auth/api-credential';
import { ApiKeyOwner } from '../auth/api-key-owner.decorator';
import { ApiAuthenticated, Credential } from '../auth/api-credential.guard';
import { abortWhenClientLeaves } from '../common/http/abort-on-close';
import { FileLinkService } from '../files/file-link.service';
import { ImageEditRequestDto } from './dto/image-edit.dto';
import { ImageGenerationRequestDto } from './dto/image-generation.dto';
import { IMAGE_EDIT_FILE_FIELDS, type ImageEditFiles } from './image-edit.files';
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

  /** OpenAI's image edit: multipart/form-data with the image(s) as files, or JSON referencing them, answered as a generation is. */
  @LargeBody()
  @MultipartBody(IMAGE_EDIT_FILE_FIELDS)
  @Post('edits')
  @ReadsBody()
  @HttpCode(200)
  async edit(
    @Body() body: ImageEditRequestDto,
    @UploadedFiles() files: ImageEditFiles | undefined,
    @Credential() credential: ApiCredential,
    @ApiKeyOwner() owner: string,
    @Req() request: Request,
    @Res() response: Response,
  ): Promise<void> {
    const signal = abortWhenClientLeaves(request, response);
    const images = await this.images.editImages(body, files, signal, owner);
    if (body.stream) await this.images.stream(body, credential, response, signal, images);
    else response.json(await this.images.generate(body, credential, signal, this.fileLinks.originFor(request), images));
  }
}
