#Requires -Version 7.0
# Flat memory, coarsely: a 256 MiB layer copied between two registries and exported to a docker archive by a fresh pwsh
# must not grow its resident set by anything near the layer's size (the transfers stream through bounded buffers).
# No timing is asserted; the peak is the kernel's high-water mark (VmHWM), reset just before each operation.

BeforeDiscovery {
    $script:CanMeasure = $IsLinux -and (Test-Path /proc/self/clear_refs)
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-MobyTestBed
    $script:LayerSize = 256MB
    $options = [MobyDistribution.TestBed.FixtureOptions]::new()
    $options.LargeLayerSize = $LayerSize
    $options.Seed = 91
    $options.Compress = $true
    $script:Large = [MobyDistribution.TestBed.FixtureImage]::Build($options)
    $script:Source = [MobyDistribution.TestBed.RegistryServer]::Start()
    $script:Target = [MobyDistribution.TestBed.RegistryServer]::Start()
    $script:LargeDigest = Publish-MobyFixture $Large $Source 'memory/large' 'v1'
    $script:Work = New-MobyTempDirectory
}

AfterAll {
    if ($Target) { $Target.Dispose() }
    if ($Source) { $Source.Dispose() }
    if ($Large) { $Large.Dispose() }
    if ($Work) { Remove-MobyTempDirectory $Work }
}

Describe 'Memory of large transfers' -Skip:(-not $CanMeasure) {
    It 'copies and exports a 256 MiB layer with a resident set that grows by far less than the layer' {
        $probe = @'
param($ModulePath, $Source, $Destination, $Archive)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
function Kb([string] $Field) {
    foreach ($line in [IO.File]::ReadAllLines('/proc/self/status')) { if ($line.StartsWith("${Field}:")) { return [long] ($line -replace '[^0-9]', '') } }
}
function Measure-Growth([scriptblock] $Work) {
    [GC]::Collect(); [GC]::WaitForPendingFinalizers(); [GC]::Collect()
    $baseline = Kb 'VmRSS'
    [IO.File]::WriteAllText('/proc/self/clear_refs', '5')
    & $Work | Out-Null
    return (Kb 'VmHWM') - $baseline
}
Import-Module $ModulePath
@{
    CopyKb   = Measure-Growth { Copy-RegistryImage -Source $Source -Destination $Destination }
    ExportKb = Measure-Growth { Export-DockerImage -Reference $Source -Path $Archive }
} | ConvertTo-Json -Compress
'@
        $probePath = Join-Path $Work 'probe.ps1'
        Set-Content -Path $probePath -Value $probe
        $command = Get-MobyPwshCommand
        $arguments = @($command | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive', '-File', $probePath,
            (Get-MobyModulePath), "$($Source.HostPort)/memory/large:v1", "$($Target.HostPort)/memory/copy:v1", (Join-Path $Work 'large.tar'))
        $output = & $command[0] @arguments 2>&1
        $LASTEXITCODE | Should -Be 0 -Because ($output -join "`n")
        $result = ($output | Select-Object -Last 1) | ConvertFrom-Json

        # The copy really happened, byte for byte, and the archive holds the whole layer.
        [MobyDistribution.TestBed.Skopeo]::Digest("docker://$($Target.HostPort)/memory/copy:v1", [NullString]::Value) | Should -Be $LargeDigest
        (Get-Item (Join-Path $Work 'large.tar')).Length | Should -BeGreaterThan $LayerSize

        $result.CopyKb | Should -BeGreaterThan 0
        $result.ExportKb | Should -BeGreaterThan 0
        # Bounded buffers: measured at about 20-35 MiB on a 1 GiB layer; half the layer size is a generous ceiling.
        $result.CopyKb * 1KB | Should -BeLessThan ($LayerSize / 2) -Because "the copy grew the resident set by $($result.CopyKb) KiB"
        $result.ExportKb * 1KB | Should -BeLessThan ($LayerSize / 2) -Because "the export grew the resident set by $($result.ExportKb) KiB"
    }
}
