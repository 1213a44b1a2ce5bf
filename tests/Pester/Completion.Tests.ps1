#Requires -Version 7.0
# Tab completion as the console asks for it (TabExpansion2) against a real registry: registry names, repositories from
# the catalog, tags of the repository typed; bounded, cached, quiet, and without sessions of its own.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-MobyModule
    $script:TestBed = Start-MobyTestBed
    $script:Image = New-MobyFixture -Layers 1 -Seed 31
    $script:Registry = $TestBed.Anonymous.HostPort
    foreach ($tag in 'v1', 'v2', 'stable') { Publish-MobyFixture $Image $TestBed.Anonymous 'team/app' $tag | Out-Null }
    Publish-MobyFixture $Image $TestBed.Anonymous 'team/web' 'latest' | Out-Null

    # What the console would offer at the end of the line.
    function Get-Completion([string] $Line) {
        @((TabExpansion2 -inputScript $Line -cursorColumn $Line.Length).CompletionMatches | ForEach-Object CompletionText)
    }
}

AfterAll {
    Get-RegistrySession | Where-Object Registry -in $TestBed.All.HostPort | Disconnect-Registry
    $TestBed.Dispose()
    $Image.Dispose()
}

Describe 'Completing registry names' {
    It 'offers the registries of this session to -Registry' {
        Connect-Registry -Registry $Registry
        Get-Completion 'Get-RegistryCatalog 127.0.0.1:' | Should -Contain $Registry
        Get-Completion 'Connect-Registry -Registry 127.0.0.' | Should -Contain $Registry
        Get-Completion 'Disconnect-Registry 127.0.0.' | Should -Contain $Registry
    }

    It 'offers a registry with a / as the first part of a reference' {
        Connect-Registry -Registry $Registry
        Get-Completion 'Get-ImageManifest 127.0.0.' | Should -Contain "$Registry/"
    }

    It 'offers the registries of Docker''s config, but only sessions to Disconnect-Registry' {
        $config = New-MobyTempDirectory
        Set-Content (Join-Path $config 'config.json') '{ "auths": { "registry.example.com": {}, "https://index.docker.io/v1/": {} } }'
        $command = Get-MobyPwshCommand
        $script = "`$ErrorActionPreference = 'Stop'; Import-Module '$(Get-MobyModulePath)'; " +
            "function C([string] `$l) { ,@((TabExpansion2 -inputScript `$l -cursorColumn `$l.Length).CompletionMatches | ForEach-Object CompletionText) }; " +
            "@{ Connect = C 'Connect-Registry reg'; Hub = C 'Get-RegistryCatalog dock'; Reference = C 'Copy-RegistryImage -Destination registry.ex'; " +
            "Disconnect = C 'Disconnect-Registry reg' } | ConvertTo-Json -Compress"
        $env:DOCKER_CONFIG, $saved = $config, $env:DOCKER_CONFIG
        try {
            $output = & $command[0] @($command | Select-Object -Skip 1) -NoProfile -NonInteractive -Command $script 2>&1
        } finally {
            $env:DOCKER_CONFIG = $saved
        }
        $LASTEXITCODE | Should -Be 0 -Because ($output -join "`n")
        $result = ($output -join "`n") | ConvertFrom-Json
        $result.Connect | Should -Be @('registry.example.com')
        $result.Hub | Should -Be @('docker.io')
        $result.Reference | Should -Be @('registry.example.com/')
        $result.Disconnect | Should -BeNullOrEmpty
    }
}

Describe 'Completing references' {
    It 'completes repositories from the catalog of the registry typed' {
        Get-Completion "Get-RegistryTag $Registry/te" | Should -Be @("$Registry/team/app", "$Registry/team/web")
    }

    It 'completes tags of the repository typed after the colon' {
        Get-Completion "Get-ImageManifest $Registry/team/app:" | Should -Be @("$Registry/team/app:stable", "$Registry/team/app:v1", "$Registry/team/app:v2")
        Get-Completion "Get-ImageManifest -Reference $Registry/team/app:v" | Should -Be @("$Registry/team/app:v1", "$Registry/team/app:v2")
    }

    It 'keeps the quote the user opened' {
        Get-Completion "Copy-RegistryImage -Source '$Registry/team/app:st" | Should -Be @("'$Registry/team/app:stable'")
    }

    It 'completes -Name with the tags of -Repository, and the catalog names of -Registry' {
        Get-Completion "Get-RegistryTag $Registry/team/app -Name v" | Should -Be @('v1', 'v2')
        Get-Completion "Remove-RegistryTag -Repository $Registry/team/app -Name s" | Should -Be @('stable')
        Get-Completion "Get-RegistryCatalog $Registry -Name team/w" | Should -Be @('team/web')
        Get-Completion "Publish-ImageBlob -Repository $Registry/team/new -MountFrom team/a" | Should -Be @('team/app')
    }

    It 'adds no session for the registry it lists' {
        Disconnect-Registry -Registry $Registry -ErrorAction SilentlyContinue
        Get-Completion "Save-ImageBlob -Repository $Registry/team/w" | Should -Be @("$Registry/team/web")
        Get-RegistrySession | Where-Object Registry -EQ $Registry | Should -BeNullOrEmpty
    }

    It 'reuses a listing for a short while' {
        Get-Completion "Get-RegistryTag $Registry/team/web:" | Should -Be @("$Registry/team/web:latest")
        Publish-MobyFixture $Image $TestBed.Anonymous 'team/web' 'newer' | Out-Null
        Get-Completion "Get-RegistryTag $Registry/team/web:" | Should -Be @("$Registry/team/web:latest")
    }
}

Describe 'Bounds' {
    It 'gives up on a registry that does not answer, within the deadline and without an error' {
        # Accepts connections (the kernel does) and never answers.
        $silent = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
        $silent.Start()
        try {
            $Error.Clear()
            $watch = [System.Diagnostics.Stopwatch]::StartNew()
            Get-Completion "Get-RegistryTag 127.0.0.1:$($silent.LocalEndpoint.Port)/te" | Should -BeNullOrEmpty
            $watch.Elapsed.TotalSeconds | Should -BeLessThan 3
            $watch.Restart()
            Get-Completion "Get-RegistryTag 127.0.0.1:$($silent.LocalEndpoint.Port)/team/app:" | Should -BeNullOrEmpty
            $watch.Elapsed.TotalSeconds | Should -BeLessThan 3
            $Error.Count | Should -Be 0
        } finally {
            $silent.Stop()
        }
    }

    It 'lists nothing from a registry that wants credentials it was not given, and asks for none' {
        $Error.Clear()
        Get-Completion "Get-RegistryTag $($TestBed.Basic.HostPort)/" | Should -BeNullOrEmpty
        $Error.Count | Should -Be 0
    }

    It 'lists the tags of a familiar Docker Hub name within the deadline, whether Docker Hub answers or not' {
        $Error.Clear()
        $watch = [System.Diagnostics.Stopwatch]::StartNew()
        $offered = Get-Completion 'Get-ImageManifest alpine:3.'
        $watch.Elapsed.TotalSeconds | Should -BeLessThan 3
        foreach ($completion in $offered) { $completion | Should -BeLike 'alpine:3.*' }
        $Error.Count | Should -Be 0
    }

    It 'offers nothing for input it cannot use, without an error' {
        $Error.Clear()
        Get-Completion "Get-ImageManifest $Registry/team/app@sha256:" | Should -BeNullOrEmpty
        Get-Completion "Get-ImageManifest 'not a/reference:" | Should -BeNullOrEmpty
        Get-Completion 'Get-RegistryTag -Name v' | Should -BeNullOrEmpty
        Get-Completion 'Get-ImageManifest library/alp' | Should -BeNullOrEmpty
        $Error.Count | Should -Be 0
    }
}
