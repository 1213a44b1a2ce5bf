#Requires -Version 7.0
# Docker's config as Windows PowerShell writes it, through the cmdlets: a config that cannot be read is a warning (not
# only a verbose line) and the registry is then used anonymously; one saved with a UTF-8 BOM logs in. Each case runs in a
# fresh pwsh, as the config's path is taken when the module loads.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-MobyModule
    $script:TestBed = Start-MobyTestBed
    $script:Image = New-MobyFixture -Layers 1 -Seed 57
    $script:Basic = $TestBed.Basic
    Publish-MobyFixture $Image $Basic 'cfg/app' 'v1' | Out-Null

    # Runs Get-RegistryTag on the Basic registry in a fresh pwsh whose DOCKER_CONFIG holds $Bytes; returns tags, warnings, error ids.
    function Invoke-WithConfig([byte[]] $Bytes) {
        $config = New-MobyTempDirectory
        [IO.File]::WriteAllBytes((Join-Path $config 'config.json'), $Bytes)
        $command = Get-MobyPwshCommand
        $script = "`$ErrorActionPreference = 'Stop'; Import-Module '$(Get-MobyModulePath)'; " +
            "`$tags = @(Get-RegistryTag '$($Basic.HostPort)/cfg/app' -MaximumRetryCount 0 -WarningVariable w -WarningAction SilentlyContinue -ErrorVariable e -ErrorAction SilentlyContinue | ForEach-Object { `$_.Reference.Tag }); " +
            "@{ Tags = `$tags; Warnings = @(`$w | ForEach-Object Message); Errors = @(`$e | ForEach-Object FullyQualifiedErrorId) } | ConvertTo-Json -Compress"
        $env:DOCKER_CONFIG, $saved = $config, $env:DOCKER_CONFIG
        try {
            $output = & $command[0] @($command | Select-Object -Skip 1) -NoProfile -NonInteractive -Command $script 2>&1
        } finally {
            $env:DOCKER_CONFIG = $saved
        }
        $LASTEXITCODE | Should -Be 0 -Because ($output -join "`n")
        ($output -join "`n") | ConvertFrom-Json
    }
}

AfterAll {
    Remove-MobyTempDirectory
    $TestBed.Dispose()
    $Image.Dispose()
}

Describe 'Docker config read by the cmdlets' {
    It 'warns when the config does not parse, then goes on anonymously' {
        $result = Invoke-WithConfig ([Text.Encoding]::UTF8.GetBytes('{ "auths": {'))
        @($result.Warnings) | Should -HaveCount 1
        $result.Warnings[0] | Should -Match 'could not be read'
        $result.Warnings[0] | Should -Match 'anonymously'
        @($result.Tags) | Should -HaveCount 0
        @($result.Errors).Count | Should -BeGreaterThan 0 -Because 'the Basic registry refuses anonymous access'
    }

    It 'logs in with a config saved with a UTF-8 byte order mark (Set-Content -Encoding UTF8 in Windows PowerShell)' {
        $auth = [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes("$($Basic.Username):$($Basic.Password)"))
        $json = '{ "auths": { "' + $Basic.HostPort + '": { "auth": "' + $auth + '" } } }'
        $result = Invoke-WithConfig ([byte[]] (0xEF, 0xBB, 0xBF) + [Text.Encoding]::UTF8.GetBytes($json))
        @($result.Warnings) | Should -HaveCount 0
        $result.Tags | Should -Be @('v1')
    }
}
