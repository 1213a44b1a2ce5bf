<#
.SYNOPSIS
    Builds, tests, packages and demonstrates the MobyDistribution module.
.DESCRIPTION
    dotnet pwsh ./build.ps1                 builds Release and lays out out/MobyDistribution (importable)
    dotnet pwsh ./build.ps1 -Task Test      builds, runs xUnit (Core unit tier, then Core against registries) and Pester (module), prints 'N passed, N failed'
    dotnet pwsh ./build.ps1 -Task Demo      builds, starts a throwaway local registry and uses the module against it
    dotnet pwsh ./build.ps1 -Task Package   builds and writes a .nupkg of the module to out/
    dotnet pwsh ./build.ps1 -Task Bench     runs the benchmark against skopeo (bench/); -Scenario Latency (or Sync) runs one of its scenarios
#>
[CmdletBinding()]
param(
    [ValidateSet('Build', 'Test', 'Demo', 'Package', 'Bench')]
    [string] $Task = 'Build',
    [ValidateSet('Release', 'Debug')]
    [string] $Configuration = 'Release',
    # Pester only: run the Pester tests whose file name matches.
    [string] $PesterFilter = '*',
    # Bench only: the scenarios to run (Copy, Export, Blob, Tags, Memory, Import, Latency, Sync); all by default.
    [string[]] $Scenario
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$root = $PSScriptRoot
$out = Join-Path $root 'out'
$moduleOut = Join-Path $out 'MobyDistribution'

function Invoke-Native([string] $File, [string[]] $Arguments) {
    & $File @Arguments
    if ($LASTEXITCODE -ne 0) { throw "$File $($Arguments -join ' ') failed with exit code $LASTEXITCODE" }
}

function Get-ModuleVersion {
    [xml] $props = Get-Content (Join-Path $root 'Directory.Build.props') -Raw
    return ($props.Project.PropertyGroup | Where-Object { $_['Version'] } | Select-Object -First 1).Version
}

# Cmdlet help: docs/cmdlets/*.md (platyPS's markdown schema) to en-US/MobyDistribution.PowerShell.dll-Help.xml in the
# module, with platyPS's New-ExternalHelp where platyPS is installed, else with build/ConvertTo-Maml.ps1.
function Build-Help {
    $docs = Join-Path $root 'docs/cmdlets'
    $maml = Join-Path $moduleOut 'en-US/MobyDistribution.PowerShell.dll-Help.xml'
    if (Get-Module -ListAvailable -Name platyPS) {
        Import-Module platyPS
        New-ExternalHelp -Path $docs -OutputPath (Split-Path $maml) -Force | Out-Null
    } else {
        & (Join-Path $root 'build/ConvertTo-Maml.ps1') -Path $docs -OutputPath $maml | Out-Null
    }
    # A cmdlet without a page builds (so work on it is not blocked), but Help.Tests.ps1 and -Task Package fail.
    $exported = (Import-PowerShellDataFile (Join-Path $root 'MobyDistribution.psd1')).CmdletsToExport
    $missing = @($exported | Where-Object { -not (Test-Path (Join-Path $docs "$_.md")) })
    if ($missing) { Write-Warning "No help page in docs/cmdlets for $($missing -join ', '). Draft one with: dotnet pwsh ./build/New-CmdletMarkdown.ps1 -Name $($missing[0])" }
}

function Invoke-Build {
    $project = Join-Path $root 'src/MobyDistribution.PowerShell/MobyDistribution.PowerShell.csproj'
    $bin = Join-Path $out "bin/$Configuration"
    Invoke-Native dotnet @('build', $project, '-c', $Configuration, '-o', $bin, '--nologo', '-v', 'q', '-clp:ErrorsOnly')

    if (Test-Path $moduleOut) { Remove-Item $moduleOut -Recurse -Force }
    New-Item -ItemType Directory -Path $moduleOut | Out-Null
    # The module's own assemblies and every dependency Windows PowerShell 5.1 needs beside them.
    Get-ChildItem $bin -Filter '*.dll' | Copy-Item -Destination $moduleOut
    Get-ChildItem $bin -Filter 'MobyDistribution.*.xml' | Copy-Item -Destination $moduleOut
    Copy-Item (Join-Path $root 'src/MobyDistribution.PowerShell/MobyDistribution.format.ps1xml') $moduleOut
    $help = Join-Path $root 'en-US'
    if (Get-ChildItem $help -File -ErrorAction SilentlyContinue) {
        Copy-Item $help (Join-Path $moduleOut 'en-US') -Recurse
    }
    Build-Help
    # One version number, in Directory.Build.props, stamped into the manifest.
    $version = Get-ModuleVersion
    $manifest = Get-Content (Join-Path $root 'MobyDistribution.psd1') -Raw
    $manifest = $manifest -replace "ModuleVersion\s*=\s*'[^']*'", "ModuleVersion = '$version'"
    Set-Content -Path (Join-Path $moduleOut 'MobyDistribution.psd1') -Value $manifest -Encoding utf8
    Write-Host "Module $version laid out at $moduleOut"
}

function Get-PesterModulePath {
    $restore = Join-Path $root 'tests/Pester/Pester.Restore.csproj'
    Invoke-Native dotnet @('restore', $restore, '--nologo', '-v', 'q')
    $packages = if ($env:NUGET_PACKAGES) { $env:NUGET_PACKAGES } else { Join-Path ([Environment]::GetFolderPath('UserProfile')) '.nuget/packages' }
    $psd1 = Join-Path $packages 'pester/5.7.1/tools/Pester.psd1'
    if (-not (Test-Path $psd1)) { throw "Pester 5.7.1 was not restored to $psd1" }
    return $psd1
}

# tests/MobyDistribution.Core.Net48Tests on Mono (see that project): counts from the runner's xUnit v2 XML. Without mono,
# or when the run ends without its XML, it counts as one failure: tools/bootstrap.sh installs mono-complete.
function Invoke-MonoTests([string] $Results) {
    $counts = @{ Passed = 0; Failed = 0; Skipped = 0 }
    $project = Join-Path $root 'tests/MobyDistribution.Core.Net48Tests/MobyDistribution.Core.Net48Tests.csproj'
    if (-not (Get-Command mono -ErrorAction SilentlyContinue)) {
        Write-Warning 'mono is not installed (bash tools/bootstrap.sh installs it): the net48 tests did not run.'
        $counts.Failed = 1
        return $counts
    }
    & dotnet build $project -c $Configuration --nologo -v q -clp:ErrorsOnly | Out-Host
    [xml] $csproj = Get-Content $project -Raw
    # XPath, not member enumeration: under Set-StrictMode an ItemGroup without PackageReference items would throw.
    $runnerVersion = $csproj.SelectSingleNode("//PackageReference[@Include='xunit.runner.console']").GetAttribute('Version')
    $packages = (& dotnet nuget locals global-packages --list) -replace '^global-packages:\s*', ''
    $runner = Join-Path $packages.Trim() "xunit.runner.console/$runnerVersion/tools/net472/xunit.console.exe"
    $dll = Join-Path $root "tests/MobyDistribution.Core.Net48Tests/bin/$Configuration/net48/MobyDistribution.Core.Net48Tests.dll"
    $xml = Join-Path $Results 'core-net48-mono.xml'
    if ($LASTEXITCODE -eq 0 -and (Test-Path $runner)) { & mono $runner $dll -xml $xml -noshadow | Out-Host }
    if (-not (Test-Path $xml)) {
        Write-Warning 'The net48 tests on Mono failed before they produced results.'
        $counts.Failed = 1
        return $counts
    }
    [xml] $doc = Get-Content $xml -Raw
    foreach ($assembly in $doc.assemblies.assembly) {
        # Attributes by name: <assembly> also has an <errors> element.
        $counts.Passed += [int] $assembly.GetAttribute('passed')
        $counts.Failed += [int] $assembly.GetAttribute('failed') + [int] $assembly.GetAttribute('errors')
        $counts.Skipped += [int] $assembly.GetAttribute('skipped')
    }
    Write-Host "xUnit on Mono (net48): $($counts.Passed) passed, $($counts.Failed) failed, $($counts.Skipped) skipped"
    $counts
}

function Invoke-Tests {
    Invoke-Build
    $results = Join-Path $out 'test-results'
    if (Test-Path $results) { Remove-Item $results -Recurse -Force }
    New-Item -ItemType Directory -Path $results | Out-Null

    # xUnit: first the unit tier (pure logic, no registry: seconds), then Core against the real registries of the test bed.
    # Each run writes its own trx (distinct names, so neither overwrites the other); a run that ends without its trx
    # failed before it produced results and counts as one failure.
    $xunitRuns = @(
        @{ Project = 'tests/MobyDistribution.Core.UnitTests/MobyDistribution.Core.UnitTests.csproj'; Trx = 'core-unit.trx' }
        @{ Project = 'tests/MobyDistribution.Core.Tests/MobyDistribution.Core.Tests.csproj'; Trx = 'core.trx' }
    )
    $xunitFailedToRun = 0
    foreach ($run in $xunitRuns) {
        & dotnet test (Join-Path $root $run.Project) -c $Configuration --nologo `
            --logger "trx;LogFileName=$($run.Trx)" --results-directory $results
        if ($LASTEXITCODE -ne 0 -and -not (Test-Path (Join-Path $results $run.Trx))) {
            $xunitFailedToRun++
            Write-Warning "The xUnit run of $($run.Project) failed before it produced results."
        }
    }
    $xPassed = 0; $xFailed = 0; $xSkipped = 0
    # The unit tier again as Windows PowerShell 5.1 runs Core: built for net48, run on Mono by xUnit's console runner.
    $mono = Invoke-MonoTests -Results $results
    $xPassed += $mono.Passed; $xFailed += $mono.Failed; $xSkipped += $mono.Skipped
    foreach ($trx in Get-ChildItem $results -Filter '*.trx' -Recurse) {
        [xml] $doc = Get-Content $trx.FullName -Raw
        $c = $doc.TestRun.ResultSummary.Counters
        $xPassed += [int] $c.passed; $xFailed += [int] $c.failed + [int] $c.error + [int] $c.timeout + [int] $c.aborted
        $xSkipped += [int] $c.notExecuted
    }
    $xFailed += $xunitFailedToRun

    # Pester: the built module, imported in a fresh pwsh -NoProfile by the tests themselves.
    $pester = Get-PesterModulePath
    $testBed = Join-Path $root 'tests/MobyDistribution.TestBed/MobyDistribution.TestBed.csproj'
    Invoke-Native dotnet @('build', $testBed, '-c', $Configuration, '--nologo', '-v', 'q', '-clp:ErrorsOnly')
    $pesterJson = Join-Path $results 'pester.json'
    $script = @"
`$ErrorActionPreference = 'Stop'
Import-Module '$pester'
`$config = New-PesterConfiguration
`$config.Run.Path = '$(Join-Path $root 'tests/Pester')'
`$config.Run.PassThru = `$true
`$config.Filter.FullName = @()
`$config.Output.Verbosity = 'Detailed'
`$config.TestResult.Enabled = `$true
`$config.TestResult.OutputPath = '$(Join-Path $results 'pester.xml')'
`$files = Get-ChildItem '$(Join-Path $root 'tests/Pester')' -Filter '*.Tests.ps1' | Where-Object Name -like '$PesterFilter'
`$config.Run.Path = @(`$files.FullName)
`$r = Invoke-Pester -Configuration `$config
@{ Passed = `$r.PassedCount; Failed = `$r.FailedCount + `$r.FailedBlocksCount + `$r.FailedContainersCount; Skipped = `$r.SkippedCount } | ConvertTo-Json | Set-Content '$pesterJson'
"@
    # Plain text from every pwsh the tests start: an escape sequence in a failure message would make Pester's XML report
    # (and with it the whole count) fail.
    $env:NO_COLOR = '1'
    $env:MOBY_MODULE_PATH = Join-Path $moduleOut 'MobyDistribution.psd1'
    $env:MOBY_TESTBED_PATH = Join-Path $root "tests/MobyDistribution.TestBed/bin/$Configuration/net10.0/MobyDistribution.TestBed.dll"
    # Under 'dotnet pwsh' the process is dotnet itself: start pwsh.dll through it.
    $pwsh = [Environment]::ProcessPath
    $pwshArgs = @()
    if ([System.IO.Path]::GetFileNameWithoutExtension($pwsh) -eq 'dotnet') { $pwshArgs = @(Join-Path $PSHOME 'pwsh.dll') }
    & $pwsh @pwshArgs -NoProfile -NonInteractive -Command $script
    $pPassed = 0; $pFailed = 0; $pSkipped = 0
    if (Test-Path $pesterJson) {
        $p = Get-Content $pesterJson -Raw | ConvertFrom-Json
        $pPassed = [int] $p.Passed; $pFailed = [int] $p.Failed; $pSkipped = [int] $p.Skipped
    } else {
        Write-Warning 'The Pester run failed before it produced results.'
        $pFailed = 1
    }

    Write-Host "xUnit: $xPassed passed, $xFailed failed, $xSkipped skipped"
    Write-Host "Pester: $pPassed passed, $pFailed failed, $pSkipped skipped"
    $passed = $xPassed + $pPassed; $failed = $xFailed + $pFailed; $skipped = $xSkipped + $pSkipped
    Write-Host "$passed passed, $failed failed, $skipped skipped"
    if ($failed -gt 0) { exit 1 }
}

switch ($Task) {
    'Build' { Invoke-Build }
    'Test' { Invoke-Tests }
    'Demo' { Invoke-Build; & (Join-Path $root 'demo/Demo.ps1') -ModulePath (Join-Path $moduleOut 'MobyDistribution.psd1') }
    'Package' { Invoke-Build; & (Join-Path $root 'build/Package.ps1') -ModuleDirectory $moduleOut -OutputDirectory $out | Out-Null }
    'Bench' {
        Invoke-Build
        # The Latency scenario runs the test bed's FaultProxy in front of both registries.
        Invoke-Native dotnet @('build', (Join-Path $root 'tests/MobyDistribution.TestBed'), '-c', $Configuration, '-v', 'q', '-clp:ErrorsOnly', '-nologo')
        $benchArgs = @{
            ModulePath  = Join-Path $moduleOut 'MobyDistribution.psd1'
            TestBedPath = Join-Path $root "tests/MobyDistribution.TestBed/bin/$Configuration/net10.0/MobyDistribution.TestBed.dll"
        }
        if ($Scenario) { $benchArgs.Scenario = $Scenario }
        & (Join-Path $root 'bench/Bench.ps1') @benchArgs
    }
}
