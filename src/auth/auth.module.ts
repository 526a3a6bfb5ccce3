import { Module } from '@nestjs/common';
import { AuthKeyGuard } from '../common/guards/auth-key.guard';
import { TokenPoolModule } from '../token-pool/token-pool.module';
import { ApiCredentialGuard } from './api-credential.guard';
import { CredentialService } from './credential.service';

@Module({
  imports: [TokenPoolModule],
  providers: [CredentialService, ApiCredentialGuard, AuthKeyGuard],
  // Re-exported: the credential guard, instantiated in each module that uses it, asks the pool about seeds.
  exports: [CredentialService, ApiCredentialGuard, AuthKeyGuard, TokenPoolModule],
})
export class AuthModule {}
