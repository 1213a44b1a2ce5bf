#Requires -Version 7.0
# The three registry configurations (anonymous, Basic, token), wrong credentials, and secrets kept out of -Verbose.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-MobyModule
    $script:TestBed = Start-MobyTestBed
    $script:Image = New-MobyFixture -Layers 2 -Seed 41
    $script:Digests = @{}
    foreach ($each in $TestBed.All) {
        $Digests[[string] $each.AuthMode] = Publish-MobyFixture $Image $each 'secure/app' 'v1'
    }
    $script:Upload = Join-Path (New-MobyTempDirectory) 'upload.bin'
    [IO.File]::WriteAllBytes($Upload, [byte[]] (1..200 | ForEach-Object { $_ % 256 }))
}

AfterAll {
    Remove-MobyTempDirectory
    Get-RegistrySession | Where-Object Registry -in $TestBed.All.HostPort | Disconnect-Registry
    $TestBed.Dispose()
    $Image.Dispose()
}

Describe 'Working with a <_> registry' -ForEach 'Anonymous', 'Basic', 'Token' {
    BeforeAll {
        $Server = $TestBed.Get($_)
        $Registry = $Server.HostPort
        $Mode = $_
    }

    It 'connects, lists, gets, saves and publishes' {
        Connect-MobyTestRegistry $Server
        $session = Get-RegistrySession -Registry $Registry
        $session.IsConnected | Should -BeTrue
        if ($Mode -ne 'Anonymous') { $session.UserName | Should -Be $Server.Username }

        (Get-RegistryCatalog $Registry | Get-RegistryTag).Reference.ToString() | Should -Be "$Registry/secure/app:v1"
        $manifest = Get-ImageManifest "$Registry/secure/app:v1"
        $manifest.Digest.ToString() | Should -Be $Digests[$Mode]

        $folder = New-MobyTempDirectory
        $manifest | Save-ImageBlob -Path $folder
        foreach ($file in Get-ChildItem $folder) { Get-MobySha256 $file.FullName | Should -Be ($file.Name -replace '^sha256-', 'sha256:') }

        (Publish-ImageBlob -Repository "$Registry/secure/uploads" -Path $Upload).Outcome | Should -Be 'Uploaded'
        (Get-ImageManifest "$Registry/secure/app:v1" | Publish-ImageManifest -Reference "$Registry/secure/app:copy").Digest.ToString() | Should -Be $Digests[$Mode]
    }
}

Describe 'Wrong credentials on a <_> registry' -ForEach 'Basic', 'Token' {
    BeforeAll {
        $Server = $TestBed.Get($_)
        $Registry = $Server.HostPort
    }

    It 'are refused by Connect-Registry with RegistryAuthenticationFailed, keeping no session' {
        Disconnect-Registry $Registry -ErrorAction SilentlyContinue
        $wrong = New-MobyCredential $Server.Username 'not-the-password'
        $thrown = { Connect-Registry -Registry $Registry -Credential $wrong -ErrorAction Stop } | Should -Throw -PassThru
        $thrown.FullyQualifiedErrorId | Should -Be 'RegistryAuthenticationFailed,MobyDistribution.PowerShell.Commands.ConnectRegistryCommand'
        $thrown.CategoryInfo.Category | Should -Be 'AuthenticationError'
        $thrown.Exception.Message | Should -Not -BeLike '*not-the-password*'
        Get-RegistrySession | Where-Object { $_.Registry -eq $Registry -and $_.IsConnected } | Should -BeNullOrEmpty
    }

    It 'without credentials, reading is an AuthenticationError too' {
        Disconnect-Registry $Registry -ErrorAction SilentlyContinue
        Get-RegistryTag "$Registry/secure/app" -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -BeLike 'RegistryAuthenticationFailed,*'
        $err[0].CategoryInfo.Category | Should -Be 'AuthenticationError'
        $err[0].ErrorDetails.RecommendedAction | Should -BeLike "*Connect-Registry*$Registry*"
    }
}

Describe 'Secrets in -Verbose output on a <_> registry' -ForEach 'Basic', 'Token' {
    BeforeAll {
        $Server = $TestBed.Get($_)
        $Registry = $Server.HostPort
    }

    It 'never show the password or a token' {
        $user = $Server.Username
        $password = $Server.Password
        $credential = New-MobyCredential $user $password
        $folder = New-MobyTempDirectory
        $lines = & {
            Connect-Registry -Registry $Registry -Credential (New-MobyCredential $user 'wrong-password') -ErrorAction SilentlyContinue -Verbose
            Connect-Registry -Registry $Registry -Credential $credential -Verbose -PassThru | Out-String
            Get-RegistryTag "$Registry/secure/app" -Name v1 -Verbose | Out-String
            Get-ImageManifest "$Registry/secure/app:v1" -Verbose | Save-ImageBlob -Path $folder -Verbose
            Publish-ImageBlob -Repository "$Registry/secure/verbose" -Path $Upload -Monolithic -Verbose | Out-String
            Get-RegistrySession -Registry $Registry | Format-List * | Out-String
        } 4>&1 2>&1
        $text = ($lines | ForEach-Object { "$_" }) -join "`n"
        ($lines | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }).Count | Should -BeGreaterThan 5
        $text | Should -BeLike '*GET http*'
        Find-MobySecret -Text $text -UserName $user -Password $password | Should -BeNullOrEmpty
        $text | Should -Not -BeLike '*wrong-password*'
    }
}

Describe 'Azure Container Registry logins, on the token registry' {
    BeforeAll {
        $Server = $TestBed.Token
        $Registry = $Server.HostPort
        $Issuer = $TestBed.Issuer
        function ConvertTo-Secure([string] $Text) { ConvertTo-SecureString $Text -AsPlainText -Force }
        function New-EntraToken([string] $Tenant) {
            $token = 'entra-' + [guid]::NewGuid().ToString('N') + [guid]::NewGuid().ToString('N')
            $Issuer.AddAccessToken($token, $Server.Username, $Tenant)
            return $token
        }
        # No token of any kind (Entra, refresh, access: JWTs), password or Basic value in the text.
        function Assert-NoSecret([string] $Text, [string[]] $Secrets) {
            foreach ($secret in @($Secrets) + @($Issuer.RefreshTokensIssued)) { if ($secret) { $Text.Contains($secret) | Should -BeFalse -Because "a secret ($($secret.Substring(0, 6))...) leaked" } }
            Find-MobySecret -Text $Text -UserName $Server.Username -Password $Server.Password | Should -BeNullOrEmpty
        }
        function Get-RecordsSince([int] $Start) { @($Issuer.Requests | Select-Object -Skip $Start) }
    }

    BeforeEach { Disconnect-Registry $Registry -ErrorAction SilentlyContinue }

    It '-AccessToken is exchanged for a refresh token, which buys the tokens to pull and push' {
        $entra = New-EntraToken
        $start = $Issuer.RequestCount
        $lines = & {
            Connect-Registry -Registry $Registry -AccessToken (ConvertTo-Secure $entra) -PassThru -Verbose | Format-List * | Out-String
            Get-ImageManifest "$Registry/secure/app:v1" -Verbose | Publish-ImageManifest -Reference "$Registry/secure/app:acr" -Verbose | Out-String
            Publish-ImageBlob -Repository "$Registry/secure/acr-uploads" -Path $Upload -Verbose | Out-String
        } 4>&1 2>&1
        $text = ($lines | ForEach-Object { "$_" }) -join "`n"
        (Get-RegistrySession -Registry $Registry).UserName | Should -Be '<access token>'
        (Get-ImageManifest "$Registry/secure/app:acr").Digest.ToString() | Should -Be $Digests['Token']
        $records = Get-RecordsSince $start
        @($records | Where-Object Path -eq '/oauth2/exchange').Count | Should -Be 1
        $grants = @($records | Where-Object Path -ne '/oauth2/exchange')
        $grants.Count | Should -BeGreaterThan 2
        $grants | ForEach-Object { "$($_.Method) $($_.GrantType) $($_.User) $($_.StatusCode)" } | Sort-Object -Unique | Should -Be "POST refresh_token $($Server.Username) 200"
        $text | Should -BeLike '*Exchanged the access token*'
        Assert-NoSecret $text $entra
    }

    It 'a wrong -AccessToken is RegistryAuthenticationFailed, naming the exchange and not the token' {
        $wrong = 'entra-unknown-' + [guid]::NewGuid().ToString('N')
        $thrown = { Connect-Registry -Registry $Registry -AccessToken (ConvertTo-Secure $wrong) -ErrorAction Stop } | Should -Throw -PassThru
        $thrown.FullyQualifiedErrorId | Should -Be 'RegistryAuthenticationFailed,MobyDistribution.PowerShell.Commands.ConnectRegistryCommand'
        $thrown.CategoryInfo.Category | Should -Be 'AuthenticationError'
        $thrown.Exception.Message | Should -BeLike '*refused the access token*oauth2/exchange*'
        Assert-NoSecret ($thrown | Out-String) $wrong
        Get-RegistrySession | Where-Object { $_.Registry -eq $Registry -and $_.IsConnected } | Should -BeNullOrEmpty
    }

    It '-Tenant is sent with the exchange' {
        $entra = New-EntraToken 'contoso-tenant'
        { Connect-Registry -Registry $Registry -AccessToken (ConvertTo-Secure $entra) -ErrorAction Stop } | Should -Throw
        $start = $Issuer.RequestCount
        Connect-Registry -Registry $Registry -AccessToken (ConvertTo-Secure $entra) -Tenant 'contoso-tenant'
        $exchange = Get-RecordsSince $start | Where-Object Path -eq '/oauth2/exchange'
        $exchange.Tenant | Should -Be 'contoso-tenant'
        $exchange.StatusCode | Should -Be 200
    }

    It '-IdentityToken (what az acr login --expose-token prints) goes on the refresh grant' {
        $refresh = $Issuer.NewRefreshToken($Server.Username)
        $start = $Issuer.RequestCount
        Connect-Registry -Registry $Registry -IdentityToken (ConvertTo-Secure $refresh)
        (Get-ImageManifest "$Registry/secure/app:v1").Digest.ToString() | Should -Be $Digests['Token']
        Get-RecordsSince $start | ForEach-Object { "$($_.Method) $($_.GrantType) $($_.User)" } | Sort-Object -Unique | Should -Be "POST refresh_token $($Server.Username)"
    }

    It 'an empty -<_> is EmptyToken' -ForEach 'AccessToken', 'IdentityToken' {
        $parameters = @{ Registry = $Registry; $_ = [securestring]::new() }
        Connect-Registry @parameters -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -Be 'EmptyToken,MobyDistribution.PowerShell.Commands.ConnectRegistryCommand'
        $err[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
    }

    It 'the null-GUID login the Docker task writes is used, with DOCKER_CONFIG set after the module was imported' {
        $refresh = $Issuer.NewRefreshToken($Server.Username)
        $config = New-MobyTempDirectory
        $auth = [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes("00000000-0000-0000-0000-000000000000:$refresh"))
        Set-Content -Path (Join-Path $config 'config.json') -Value "{`"auths`":{`"$Registry`":{`"auth`":`"$auth`"}}}"
        $saved = $env:DOCKER_CONFIG
        try {
            $env:DOCKER_CONFIG = $config
            $start = $Issuer.RequestCount
            (Get-ImageManifest "$Registry/secure/app:v1").Digest.ToString() | Should -Be $Digests['Token']
            Get-RecordsSince $start | ForEach-Object { "$($_.Method) $($_.GrantType) $($_.User)" } | Sort-Object -Unique | Should -Be "POST refresh_token $($Server.Username)"
        } finally {
            $env:DOCKER_CONFIG = $saved
            Disconnect-Registry $Registry -ErrorAction SilentlyContinue
        }
    }
}

Describe 'The Azure Container Registry steps of docs/azure-pipelines.yml (Get-AzAccessToken returning a <_>)' -ForEach 'SecureString', 'String' {
    BeforeAll {
        # The inline scripts of the AzurePowerShell@5 and PowerShell@2 steps, as the agent would run them.
        $lines = Get-Content (Join-Path $MobyRepoRoot 'docs/azure-pipelines.yml')
        # Only the steps under the mirrorRegistry condition: the file has other inline scripts too.
        $first = [array]::FindIndex([string[]] $lines, [Predicate[string]] { param($l) $l -match 'parameters\.mirrorRegistry' -and $l -match '\$\{\{ if' })
        $first | Should -BeGreaterOrEqual 0
        $script:Scripts = for ($i = $first; $i -lt $lines.Count; $i++) {
            if ($lines[$i] -notmatch '^(\s*)(Inline|script): \|\s*$') { continue }
            $indent = $Matches[1].Length + 2
            $body = for ($j = $i + 1; $j -lt $lines.Count -and ($lines[$j] -eq '' -or $lines[$j] -match "^\s{$indent}"); $j++) { $lines[$j] -replace "^\s{0,$indent}", '' }
            $body -join "`n"
        }
        $TokenKind = $_
        $Mirror = $TestBed.Token
        $Release = $TestBed.Basic
        $Issuer = $TestBed.Issuer
        $Entra = 'entra-' + [guid]::NewGuid().ToString('N')
        $Issuer.AddAccessToken($Entra, $Mirror.Username, $null)

        # Each step is a new pwsh process; the module is found on PSModulePath, as installed on an agent.
        function Invoke-Step([string] $Script, [hashtable] $Environment) {
            $variables = @{ PSModulePath = (Split-Path (Split-Path (Get-MobyModulePath))) + [IO.Path]::PathSeparator + $env:PSModulePath } + $Environment
            $saved = @{}
            foreach ($key in $variables.Keys) { $saved[$key] = [Environment]::GetEnvironmentVariable($key); [Environment]::SetEnvironmentVariable($key, $variables[$key]) }
            try {
                $command = Get-MobyPwshCommand
                $output = & $command[0] @($command | Select-Object -Skip 1) -NoProfile -NonInteractive -Command $Script 2>&1
                [pscustomobject]@{ ExitCode = $LASTEXITCODE; Output = (@($output | ForEach-Object { "$_" }) -join "`n") }
            } finally {
                foreach ($key in $saved.Keys) { [Environment]::SetEnvironmentVariable($key, $saved[$key]) }
            }
        }
    }

    It 'has the two scripts, which parse' {
        $Scripts.Count | Should -Be 2
        foreach ($step in $Scripts) {
            $errors = $null
            [System.Management.Automation.Language.Parser]::ParseInput($step, [ref] $null, [ref] $errors) | Out-Null
            $errors | Should -BeNullOrEmpty
        }
    }

    It 'mirrors the release image with an Entra ID token, and checks it with the Docker task''s login' {
        # The release registry has the image; the mirror has nothing in this repository yet.
        $repository = 'secure/mirror-' + $TokenKind.ToLowerInvariant()
        Publish-MobyFixture $Image $Release $repository 'v1' | Should -Be $Digests['Basic']
        $variables = @{
            MIRROR_REGISTRY = $Mirror.HostPort; RELEASE_REGISTRY = $Release.HostPort
            RELEASE_REGISTRY_USER = $Release.Username; RELEASE_REGISTRY_PASSWORD = $Release.Password
            IMAGE_REPOSITORY = $repository; IMAGE_TAG = 'v1'; IMAGE_DIGEST = $Digests['Basic']; TEST_ENTRA_TOKEN = $Entra
        }
        # What AzurePowerShell@5 provides: Get-AzAccessToken, signed in with the service connection (here, the issuer's test token).
        $shim = if ($TokenKind -eq 'SecureString') {
            'function Get-AzAccessToken([string] $ResourceUrl) { [pscustomobject]@{ Token = (ConvertTo-SecureString $env:TEST_ENTRA_TOKEN -AsPlainText -Force) } }'
        } else {
            'function Get-AzAccessToken([string] $ResourceUrl) { [pscustomobject]@{ Token = $env:TEST_ENTRA_TOKEN } }'
        }
        $mirrorStep = Invoke-Step ($shim + "`n" + $Scripts[0]) $variables
        $mirrorStep.ExitCode | Should -Be 0 -Because $mirrorStep.Output

        # What Docker@2 login leaves for the steps after it: DOCKER_CONFIG, and ACR's null-GUID user with a refresh token.
        $refresh = $Issuer.NewRefreshToken($Mirror.Username)
        $config = New-MobyTempDirectory
        $auth = [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes("00000000-0000-0000-0000-000000000000:$refresh"))
        Set-Content -Path (Join-Path $config 'config.json') -Value "{`"auths`":{`"$($Mirror.HostPort)`":{`"auth`":`"$auth`"}}}"
        $checkStep = Invoke-Step $Scripts[1] ($variables + @{ DOCKER_CONFIG = $config })
        $checkStep.ExitCode | Should -Be 0 -Because $checkStep.Output
        # The step throws unless the mirror has the digest; skopeo checks it independently.
        [MobyDistribution.TestBed.Skopeo]::Digest($Mirror.ImageReference($repository, 'v1'), $Mirror.Credentials) | Should -Be $Digests['Basic']

        foreach ($text in $mirrorStep.Output, $checkStep.Output) {
            foreach ($secret in @($Entra, $Release.Password) + @($Issuer.RefreshTokensIssued)) { $text.Contains($secret) | Should -BeFalse }
            $text | Should -Not -Match 'eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}'
        }
    }
}
