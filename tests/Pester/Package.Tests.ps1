#Requires -Version 7.0
# The .nupkg of build.ps1 -Task Package, as a user gets it: in a local folder repository, installed with PSResourceGet
# into a throwaway home (nothing of this machine's module paths or repositories is touched), imported by name, and
# used against a real registry; then the steps of docs/azure-pipelines.yml, run as Azure Pipelines would run them.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:ModuleDirectory = Split-Path (Get-MobyModulePath)
    $script:Manifest = Import-PowerShellDataFile (Get-MobyModulePath)
    $script:Work = New-MobyTempDirectory
    $script:TestBed = Start-MobyTestBed
    $script:Image = New-MobyFixture -Layers 1 -Seed 41
    Publish-MobyFixture $Image $TestBed.Anonymous 'pkg/app' 'v1' | Out-Null
    $script:Feed = New-Item -ItemType Directory (Join-Path $Work 'feed')

    # A home of its own for PSResourceGet (its repository list, and the CurrentUser module path) and PowerShell.
    function New-IsolatedHome([string] $Name) {
        $path = New-Item -ItemType Directory (Join-Path $Work $Name)
        # PSResourceGet installs under $HOME/.local/share while PowerShell's module path follows XDG_DATA_HOME: make them one.
        foreach ($d in '.local/share', '.config', '.cache') { New-Item -ItemType Directory (Join-Path $path $d) -Force | Out-Null }
        return $path.FullName
    }

    # Runs a script in a fresh pwsh -NoProfile -NonInteractive (as a pipeline step runs) with that home and these variables.
    function Invoke-IsolatedPwsh([string] $IsolatedHome, [string] $Script, [hashtable] $Environment = @{}) {
        $variables = @{ HOME = $IsolatedHome; XDG_DATA_HOME = "$IsolatedHome/.local/share"; XDG_CONFIG_HOME = "$IsolatedHome/.config"; XDG_CACHE_HOME = "$IsolatedHome/.cache" } + $Environment
        $saved = @{}
        foreach ($key in $variables.Keys) { $saved[$key] = [Environment]::GetEnvironmentVariable($key); [Environment]::SetEnvironmentVariable($key, $variables[$key]) }
        try {
            $command = Get-MobyPwshCommand
            $output = & $command[0] @($command | Select-Object -Skip 1) -NoProfile -NonInteractive -Command $Script 2>&1
            [pscustomobject]@{ ExitCode = $LASTEXITCODE; Output = @($output | ForEach-Object { "$_" }) }
        } finally {
            foreach ($key in $saved.Keys) { [Environment]::SetEnvironmentVariable($key, $saved[$key]) }
        }
    }

    # Even packing initializes PSResourceGet's settings, so it runs in an isolated home too.
    $script:Packing = Invoke-IsolatedPwsh (New-IsolatedHome 'pack-home') @"
`$ErrorActionPreference = 'Stop'
(& '$(Join-Path $MobyRepoRoot 'build/Package.ps1')' -ModuleDirectory '$ModuleDirectory' -OutputDirectory '$($Feed.FullName)' 6>`$null).FullName
"@
}

AfterAll {
    $TestBed.Dispose()
    $Image.Dispose()
    Remove-MobyTempDirectory
}

Describe 'build/Package.ps1' {
    It 'writes MobyDistribution.(version).nupkg with the manifest''s metadata' {
        $Packing.ExitCode | Should -Be 0 -Because ($Packing.Output -join "`n")
        $package = Get-Item ($Packing.Output | Select-Object -Last 1)
        $package.Name | Should -Be "MobyDistribution.$($Manifest.ModuleVersion).nupkg"
        Add-Type -AssemblyName System.IO.Compression.FileSystem
        $zip = [System.IO.Compression.ZipFile]::OpenRead($package.FullName)
        try {
            $entries = $zip.Entries.FullName
            foreach ($file in 'MobyDistribution.psd1', 'MobyDistribution.PowerShell.dll', 'MobyDistribution.Core.dll', 'System.Text.Json.dll', 'NuGet.Versioning.dll',
                'MobyDistribution.format.ps1xml', 'en-US/MobyDistribution.PowerShell.dll-Help.xml', 'en-US/about_MobyDistribution.help.txt',
                'en-US/about_MobyDistribution_Credentials.help.txt') {
                $entries | Should -Contain $file
            }
            $entries | Should -Not -Contain 'System.Management.Automation.dll'
            $reader = [IO.StreamReader]::new(($zip.Entries | Where-Object FullName -EQ 'MobyDistribution.nuspec').Open())
            [xml] $nuspec = $reader.ReadToEnd()
            $reader.Dispose()
        } finally {
            $zip.Dispose()
        }
        $metadata = $nuspec.package.metadata
        $metadata.id | Should -Be 'MobyDistribution'
        $metadata.version | Should -Be $Manifest.ModuleVersion
        $metadata.description | Should -Be $Manifest.Description
        $metadata.projectUrl | Should -Be $Manifest.PrivateData.PSData.ProjectUri
        $metadata.licenseUrl | Should -Be $Manifest.PrivateData.PSData.LicenseUri
        $metadata.releaseNotes | Should -Not -BeNullOrEmpty
        $metadata.tags -split ' ' | Should -Contain 'OCI'
    }

    It 'installs from a local folder repository into an isolated home, imports by name and works' {
        $isolatedHome = New-IsolatedHome 'user-home'
        $name = 'MobyTest' + [guid]::NewGuid().ToString('N').Substring(0, 8)
        $run = Invoke-IsolatedPwsh $isolatedHome @"
`$ErrorActionPreference = 'Stop'
`$ProgressPreference = 'SilentlyContinue'
Register-PSResourceRepository -Name '$name' -Uri '$($Feed.FullName)' -Trusted
if (`$IsWindows) {
    # Windows has no per-process user module path: save into the isolated home and put it on PSModulePath.
    `$modules = (New-Item -ItemType Directory (Join-Path '$isolatedHome' 'Modules')).FullName
    Save-PSResource -Name MobyDistribution -Repository '$name' -Path `$modules -TrustRepository -Quiet
    `$env:PSModulePath = `$modules + [IO.Path]::PathSeparator + `$env:PSModulePath
} else {
    Install-PSResource -Name MobyDistribution -Repository '$name' -Scope CurrentUser -TrustRepository -Quiet
}
Import-Module MobyDistribution
@{
    ModuleBase = (Get-Module MobyDistribution).ModuleBase
    Version = (Get-Module MobyDistribution).Version.ToString()
    Cmdlets = @(Get-Command -Module MobyDistribution | ForEach-Object Name | Sort-Object)
    # -SemVer loads NuGet.Versioning from the installed package.
    Tags = @(Get-RegistryTag '$($TestBed.Anonymous.HostPort)/pkg/app' -SemVer '>=1' | ForEach-Object Tag)
    Synopsis = (Get-Help Copy-RegistryImage).Synopsis
} | ConvertTo-Json -Compress
"@
        $run.ExitCode | Should -Be 0 -Because ($run.Output -join "`n")
        $result = $run.Output | Select-Object -Last 1 | ConvertFrom-Json
        $result.ModuleBase | Should -BeLike "$isolatedHome*"
        $result.Version | Should -Be $Manifest.ModuleVersion
        $result.Cmdlets | Should -Be @($Manifest.CmdletsToExport | Sort-Object)
        $result.Tags | Should -Be @('v1')
        $result.Synopsis | Should -Be 'Copies an image between repositories and registries, keeping its digest.'
    }
}

Describe 'docs/azure-pipelines.yml' {
    BeforeAll {
        # The script of each '- pwsh: |' step, as the agent would run it.
        $lines = Get-Content (Join-Path $MobyRepoRoot 'docs/azure-pipelines.yml')
        $script:Steps = [System.Collections.Generic.List[string]]::new()
        for ($i = 0; $i -lt $lines.Count; $i++) {
            if ($lines[$i] -notmatch '^(\s*)- pwsh: \|\s*$') { continue }
            $indent = $Matches[1].Length + 4
            $body = for ($j = $i + 1; $j -lt $lines.Count -and ($lines[$j] -eq '' -or $lines[$j] -match "^\s{$indent}"); $j++) { $lines[$j] -replace "^\s{0,$indent}", '' }
            $Steps.Add(($body -join "`n"))
        }
    }

    It 'is the pipeline docs/azure-devops.md explains' {
        $page = Get-Content (Join-Path $MobyRepoRoot 'docs/azure-devops.md') -Raw
        $yaml = (Get-Content (Join-Path $MobyRepoRoot 'docs/azure-pipelines.yml') -Raw).Trim()
        $page.Replace("`r`n", "`n") | Should -Match ([regex]::Escape("``````yaml`n$yaml`n``````"))
    }

    It 'has PowerShell steps that parse' {
        $Steps.Count | Should -Be 3
        foreach ($step in $Steps) {
            $errors = $null
            [System.Management.Automation.Language.Parser]::ParseInput($step, [ref] $null, [ref] $errors) | Out-Null
            $errors | Should -BeNullOrEmpty
        }
    }

    It 'installs the module from a feed, copies an image between registries with secrets from variables, and exports it' -Skip:$IsWindows {
        # As on a hosted agent: one home for the job, one process per step, secrets only in the variables mapped to each step.
        $agentHome = New-IsolatedHome 'agent-home'
        $staging = New-Item -ItemType Directory (Join-Path $Work 'staging')
        $release = $TestBed.Basic
        $variables = @{
            MODULE_FEED_URL = $Feed.FullName; MODULE_VERSION = "[$($Manifest.ModuleVersion),]"; FEED_TOKEN = 'token-a-folder-feed-ignores'
            SOURCE_REGISTRY = $TestBed.Anonymous.HostPort; SOURCE_REGISTRY_USER = 'builder'; SOURCE_REGISTRY_PASSWORD = 'anonymous-registry-ignores-it'
            RELEASE_REGISTRY = $release.HostPort; RELEASE_REGISTRY_USER = $release.Username; RELEASE_REGISTRY_PASSWORD = $release.Password
            IMAGE_REPOSITORY = 'pkg/app'; IMAGE_TAG = 'v1'; BUILD_ARTIFACTSTAGINGDIRECTORY = $staging.FullName
        }
        $install = Invoke-IsolatedPwsh $agentHome $Steps[0] $variables
        $install.ExitCode | Should -Be 0 -Because ($install.Output -join "`n")

        $copy = Invoke-IsolatedPwsh $agentHome $Steps[1] $variables
        $copy.ExitCode | Should -Be 0 -Because ($copy.Output -join "`n")
        # The agent turns this logging command into the variable ImageDigest, mapped into the next step.
        $set = $copy.Output | Where-Object { $_ -match '^##vso\[task\.setvariable variable=ImageDigest\](sha256:[0-9a-f]{64})$' }
        $set | Should -Not -BeNullOrEmpty -Because ($copy.Output -join "`n")
        $variables.IMAGE_DIGEST = $Matches[1]
        ($copy.Output -join "`n") | Should -Not -Match ([regex]::Escape($release.Password))

        $export = Invoke-IsolatedPwsh $agentHome $Steps[2] $variables
        $export.ExitCode | Should -Be 0 -Because ($export.Output -join "`n")
        $tar = Join-Path $staging 'pkg-app-v1.tar'
        $tar | Should -Exist
        $listing = [MobyDistribution.TestBed.Skopeo]::Run([string[]] @('inspect', "docker-archive:$tar")).StandardOutput | ConvertFrom-Json
        $listing.Digest | Should -Not -BeNullOrEmpty
        $copied = [MobyDistribution.TestBed.Skopeo]::Run([string[]] @('inspect', '--tls-verify=false', '--creds', "$($release.Username):$($release.Password)", "docker://$($release.HostPort)/pkg/app:v1")).StandardOutput | ConvertFrom-Json
        $copied.Digest | Should -Be $variables.IMAGE_DIGEST
    }
}
