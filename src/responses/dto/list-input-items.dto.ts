import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Max, Min } from 'class-validator';

/** The query of `GET /v1/responses/{id}/input_items`: OpenAI's cursor pagination. */
export class ListInputItemsQuery {
  /** The id of the item the page starts after, in the order asked for. */
  @IsOptional() @IsString() after?: string;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(100) limit?: number;
  @IsOptional() @IsIn(['asc', 'desc']) order?: 'asc' | 'desc';
}
