# Shared setup of the Pester tests: dot-source it in BeforeAll.
# The tests use the BUILT module ($env:MOBY_MODULE_PATH, else out/MobyDistribution) and real registries started by the
# test bed library ($env:MOBY_TESTBED_PATH, else its Release build). Nothing is mocked.

Set-StrictMode -Version Latest

$script:MobyRepoRoot = (Resolve-Path (Join-Path $PSScriptRoot '../..')).Path
$script:MobyTempDirectories = [System.Collections.Generic.List[string]]::new()

function Get-MobyModulePath {
    if ($env:MOBY_MODULE_PATH) { return $env:MOBY_MODULE_PATH }
    return Join-Path $script:MobyRepoRoot 'out/MobyDistribution/MobyDistribution.psd1'
}

function Get-MobyTestBedPath {
    if ($env:MOBY_TESTBED_PATH) { return $env:MOBY_TESTBED_PATH }
    return Join-Path $script:MobyRepoRoot 'tests/MobyDistribution.TestBed/bin/Release/net10.0/MobyDistribution.TestBed.dll'
}

function Import-MobyModule {
    $path = Get-MobyModulePath
    if (-not (Test-Path $path)) { throw "The module is not built at '$path': run 'dotnet pwsh ./build.ps1' first." }
    Import-Module $path -Force -ErrorAction Stop
}

function Import-MobyTestBed {
    if ('MobyDistribution.TestBed.TestBedEnvironment' -as [type]) { return }
    $path = Get-MobyTestBedPath
    if (-not (Test-Path $path)) { throw "The test bed is not built at '$path': run 'dotnet build tests/MobyDistribution.TestBed -c Release'." }
    Add-Type -Path $path
}

# The anonymous, Basic and token registries (with their token issuer). Dispose it in AfterAll.
function Start-MobyTestBed {
    Import-MobyTestBed
    return [MobyDistribution.TestBed.TestBedEnvironment]::Start()
}

# A small OCI image (or a two-platform index) written as an OCI layout; dispose it in AfterAll.
function New-MobyFixture {
    param([int] $Layers = 2, [long] $Seed = 1, [switch] $Index)
    Import-MobyTestBed
    if ($Index) { return [MobyDistribution.TestBed.FixtureImage]::CreateIndex($Layers, $Seed) }
    return [MobyDistribution.TestBed.FixtureImage]::Create($Layers, $Seed)
}

# Pushes a fixture with skopeo (an independent client) and returns the digest pushed.
function Publish-MobyFixture {
    param($Fixture, $Registry, [string] $Repository, [string] $Tag = 'latest', [string] $Format = 'oci')
    return [MobyDistribution.TestBed.Skopeo]::PushFixture($Fixture, $Registry, $Repository, $Tag, $Format)
}

function New-MobyCredential {
    param([string] $UserName = [MobyDistribution.TestBed.TestBedEnvironment]::User,
          [string] $Password = [MobyDistribution.TestBed.TestBedEnvironment]::Password)
    return [pscredential]::new($UserName, (ConvertTo-SecureString $Password -AsPlainText -Force))
}

# Connects to a registry of the test bed with the right credentials (anonymous ones need none).
function Connect-MobyTestRegistry {
    param($Registry)
    if ($Registry.AuthMode -eq 'Anonymous') {
        Connect-Registry -Registry $Registry.HostPort
    } else {
        Connect-Registry -Registry $Registry.HostPort -Credential (New-MobyCredential $Registry.Username $Registry.Password)
    }
}

function New-MobyTempDirectory {
    $path = Join-Path ([IO.Path]::GetTempPath()) ('moby-pester-' + [guid]::NewGuid().ToString('N').Substring(0, 12))
    New-Item -ItemType Directory -Path $path | Out-Null
    $script:MobyTempDirectories.Add($path)
    return $path
}

# Removes the folders New-MobyTempDirectory made; call it in AfterAll.
function Remove-MobyTempDirectory {
    foreach ($path in $script:MobyTempDirectories) { Remove-Item -LiteralPath $path -Recurse -Force -ErrorAction SilentlyContinue }
    $script:MobyTempDirectories.Clear()
}

function Get-MobySha256 {
    param([string] $Path)
    return 'sha256:' + (Get-FileHash -Algorithm SHA256 -LiteralPath $Path).Hash.ToLowerInvariant()
}

# Text that must never appear in output: the password, its Basic encoding, and anything shaped like a JWT.
function Find-MobySecret {
    param([string] $Text, [string] $UserName, [string] $Password)
    $found = @()
    if ($Text.Contains($Password)) { $found += 'password' }
    $basic = [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes("${UserName}:${Password}"))
    if ($Text.Contains($basic)) { $found += 'basic credentials' }
    if ($Text -match 'eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}') { $found += 'token' }
    return $found
}

# The command line that starts a fresh pwsh like this one (under 'dotnet pwsh' the process is dotnet, running pwsh.dll).
function Get-MobyPwshCommand {
    $exe = [Environment]::ProcessPath
    if ([IO.Path]::GetFileNameWithoutExtension($exe) -eq 'dotnet') { return @($exe, (Join-Path $PSHOME 'pwsh.dll')) }
    return @($exe)
}
