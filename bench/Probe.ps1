# Runs in a fresh 'pwsh -NoProfile' started by bench/Bench.ps1 and prints one JSON line.
#   -Mode Import: how long Import-Module takes.
#   -Mode Copy / Export: the peak resident set (VmHWM) of this process during one Copy-RegistryImage / Export-DockerImage,
#    over its idle baseline (VmRSS after Import-Module and a full GC). The kernel's high-water mark is reset
#    (/proc/self/clear_refs) just before the operation, so the peak is that of the operation alone.
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [ValidateSet('Import', 'Copy', 'Export')] [string] $Mode,
    [string] $Source,
    [string] $Destination
)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

function Get-StatusKb([string] $Field) {
    foreach ($line in [System.IO.File]::ReadAllLines('/proc/self/status')) {
        if ($line.StartsWith("${Field}:")) { return [long] ($line -replace '[^0-9]', '') }
    }
    throw "No $Field in /proc/self/status"
}

if ($Mode -eq 'Import') {
    $sw = [System.Diagnostics.Stopwatch]::StartNew()
    Import-Module $ModulePath
    $sw.Stop()
    [pscustomobject]@{ ImportMs = $sw.Elapsed.TotalMilliseconds } | ConvertTo-Json -Compress
    return
}

Import-Module $ModulePath
[GC]::Collect(); [GC]::WaitForPendingFinalizers(); [GC]::Collect()
Start-Sleep -Milliseconds 300
$baselineKb = Get-StatusKb 'VmRSS'
[System.IO.File]::WriteAllText('/proc/self/clear_refs', '5')
$gen0 = [GC]::CollectionCount(0); $gen1 = [GC]::CollectionCount(1); $gen2 = [GC]::CollectionCount(2)
$allocated = [GC]::GetTotalAllocatedBytes($true)
$sw = [System.Diagnostics.Stopwatch]::StartNew()
if ($Mode -eq 'Copy') {
    Copy-RegistryImage -Source $Source -Destination $Destination | Out-Null
} else {
    Export-DockerImage -Reference $Source -Path $Destination -Force | Out-Null
}
$sw.Stop()
$peakKb = Get-StatusKb 'VmHWM'
$info = [GC]::GetGCMemoryInfo()
[pscustomobject]@{
    Seconds        = $sw.Elapsed.TotalSeconds
    BaselineKb     = $baselineKb
    PeakKb         = $peakKb
    OverBaselineKb = $peakKb - $baselineKb
    AllocatedMb    = [math]::Round(([GC]::GetTotalAllocatedBytes($true) - $allocated) / 1MB, 1)
    Gen0           = [GC]::CollectionCount(0) - $gen0
    Gen1           = [GC]::CollectionCount(1) - $gen1
    Gen2           = [GC]::CollectionCount(2) - $gen2
    HeapMb         = [math]::Round($info.HeapSizeBytes / 1MB, 1)
} | ConvertTo-Json -Compress
