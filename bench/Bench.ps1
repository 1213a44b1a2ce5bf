<#
.SYNOPSIS
    Benchmarks MobyDistribution against skopeo (and curl) on two local registries, and writes bench/results.md.
.DESCRIPTION
    One command:  dotnet pwsh ./build.ps1 -Task Bench      (after bash tools/bootstrap.sh on a fresh machine)
    or, with a built module:  dotnet pwsh ./bench/Bench.ps1 -ModulePath out/MobyDistribution/MobyDistribution.psd1 [-Quick]

    It builds its fixture images itself (OCI layouts pushed to a source registry with skopeo):
      app  - 4 gzip layers, >= 300 MB compressed: real files of this machine (a chunk of /usr/lib, a chunk of /usr/share,
             a few files of /etc) and one layer of random (incompressible) bytes;
      big  - one 1 GiB layer of random bytes (for the memory measurements);
      tiny - one small layer, tagged 5,000 times (for tag listing).
    Then it measures, alternating ours and theirs (the order flips every run) after one untimed warm-up each:
      1. Copy-RegistryImage vs skopeo copy docker://A docker://B (B emptied and restarted before every run);
      2. Export-DockerImage vs skopeo copy docker://A docker-archive:FILE;
      3. Save-ImageBlob of the largest layer vs curl -o of the blob URL;
      4. Get-RegistryTag vs skopeo list-tags on a repository with 5,000 tags;
      5. peak resident set of a fresh pwsh during the 1 GiB copy and export, over its idle baseline (bench/Probe.ps1);
      6. Import-Module time in a fresh pwsh -NoProfile;
      7. Latency: Copy-RegistryImage vs skopeo copy of a 12-layer image (1-3 MB random layers, a new image for every copy,
         a new destination repository every time) with each registry behind the test bed's FaultProxy holding every
         request -LatencyMs (bench/LatencyProxy.ps1, a process of its own); the requests each client sent, from the
         proxies' logs; and our copy with each of -ThrottleLimits. Needs the test bed built (-TestBedPath). Its results go
         to a section of their own in results.md (between the bench-latency markers).
      8. Sync: Sync-RegistryRepository vs skopeo sync --src docker --dest docker of a repository of -SyncTags tags (distinct
         manifests over the same 3 layers: one config each, differing by a label), between the two registries: a first
         sync into an emptied destination, a resync with nothing changed, and a resync after 5 tags changed; then, through
         the test bed's FaultProxy (no latency), the requests each client sends for a first sync and for a resync with
         nothing changed. Needs the test bed built. Its results go to a section of their own (between the bench-sync markers).
    Only that one:  dotnet pwsh ./build.ps1 -Task Bench -Scenario Latency   (or -Scenario Sync)
    Our cmdlets run in this session, timed with Measure-Command; skopeo and curl are started from this session.
    Registries and fixtures live in a temporary directory that is deleted at the end (unless -KeepWork).
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    # Fewer runs (3) and smaller data (about 100 MB, 256 MiB for memory): a smoke test, not the reference numbers.
    [switch] $Quick,
    # Timed runs per tool and scenario (after one warm-up); 7 by default (a steadier median on a busy machine), 3 with -Quick.
    [int] $Runs = 0,
    # Where fixtures and registry storage go; a new directory under the system temp folder by default.
    [string] $WorkDirectory,
    # Keep the work directory (fixtures are then reused by the next run with the same -WorkDirectory).
    [switch] $KeepWork,
    [ValidateSet('Copy', 'Export', 'Blob', 'Tags', 'Memory', 'Import', 'Latency', 'Sync')]
    [string[]] $Scenario = @('Copy', 'Export', 'Blob', 'Tags', 'Memory', 'Import', 'Latency', 'Sync'),
    # Sync: how many tags the synced repository has.
    [int] $SyncTags = 100,
    # Latency: what each proxy adds to every request, in milliseconds.
    [int] $LatencyMs = 40,
    # Latency: the -ThrottleLimit values our copy is also timed with (from a shell, pass a list inside -Command: pwsh -File reads "1,4" as 14).
    [int[]] $ThrottleLimits = @(1, 2, 4, 6, 8),
    # Latency: the test bed assembly (its FaultProxy); build.ps1 -Task Bench builds it.
    [string] $TestBedPath = (Join-Path $PSScriptRoot '../tests/MobyDistribution.TestBed/bin/Release/net10.0/MobyDistribution.TestBed.dll'),
    # The report; its part between the bench markers is replaced, notes around it are kept. Empty: no report.
    [string] $ResultsPath = (Join-Path $PSScriptRoot 'results.md')
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
Set-StrictMode -Version Latest
$benchClock = [System.Diagnostics.Stopwatch]::StartNew()
. (Join-Path $PSScriptRoot 'BenchLib.ps1')

if ($Runs -le 0) { $Runs = if ($Quick) { 3 } else { 7 } }
$ModulePath = (Resolve-Path $ModulePath).Path
foreach ($tool in 'docker-registry', 'skopeo', 'curl', 'tar') {
    if (-not (Get-Command $tool -CommandType Application -ErrorAction SilentlyContinue)) { throw "$tool is missing: run 'bash tools/bootstrap.sh' first." }
}

$MiB = 1MB
$sizes = if ($Quick) {
    @{ Lib = 40 * $MiB; Share = 40 * $MiB; MinTotal = 100 * $MiB; MinRandom = 24 * $MiB; Big = 256 * $MiB; Tags = 5000 }
} else {
    @{ Lib = 280 * $MiB; Share = 240 * $MiB; MinTotal = 330 * $MiB; MinRandom = 128 * $MiB; Big = 1024 * $MiB; Tags = 5000 }
}

$ownWork = -not $WorkDirectory
if ($ownWork) { $WorkDirectory = Join-Path ([System.IO.Path]::GetTempPath()) ("moby-bench-" + [Guid]::NewGuid().ToString('N').Substring(0, 8)) }
New-Item -ItemType Directory -Force -Path $WorkDirectory | Out-Null
$WorkDirectory = (Resolve-Path $WorkDirectory).Path
Write-Host "Work directory: $WorkDirectory"

# Benchmark a snapshot of the module, so that a rebuild of out/ meanwhile cannot mix two builds in one run.
$snapshot = Join-Path $WorkDirectory 'module/MobyDistribution'
if (Test-Path $snapshot) { Remove-Item -Recurse -Force $snapshot }
New-Item -ItemType Directory -Force -Path $snapshot | Out-Null
Copy-Item -Path (Join-Path (Split-Path $ModulePath) '*') -Destination $snapshot -Recurse
$ModulePath = Join-Path $snapshot (Split-Path $ModulePath -Leaf)
$moduleVersion = (Import-PowerShellDataFile $ModulePath).ModuleVersion
if ('Latency' -in $Scenario -or 'Sync' -in $Scenario) {
    if (-not (Test-Path $TestBedPath)) { throw "The test bed is not built at ${TestBedPath}: run 'dotnet build tests/MobyDistribution.TestBed -c Release' (build.ps1 -Task Bench does)." }
    # A snapshot too, for the same reason.
    $testBedSnapshot = Join-Path $WorkDirectory 'testbed'
    New-Item -ItemType Directory -Force -Path $testBedSnapshot | Out-Null
    Copy-Item -Path (Join-Path (Split-Path (Resolve-Path $TestBedPath).Path) 'MobyDistribution.TestBed.*') -Destination $testBedSnapshot -Force
    $TestBedPath = Join-Path $testBedSnapshot (Split-Path $TestBedPath -Leaf)
}
# The big fixtures (and the 5,000 tags) are built and pushed only for the scenarios that use them.
$needFixtures = @($Scenario | Where-Object { $_ -in 'Copy', 'Export', 'Blob', 'Tags', 'Memory' }).Count -gt 0

# Under 'dotnet pwsh' this process is dotnet itself: a fresh pwsh is 'dotnet pwsh.dll'.
$pwshExe = [Environment]::ProcessPath
$pwshPrefix = @()
if ([System.IO.Path]::GetFileNameWithoutExtension($pwshExe) -eq 'dotnet') { $pwshPrefix = @(Join-Path $PSHOME 'pwsh.dll') }
$probe = Join-Path $PSScriptRoot 'Probe.ps1'
function Invoke-Probe([string[]] $Arguments) {
    $r = Invoke-NativeTimed $pwshExe ($pwshPrefix + @('-NoProfile', '-NonInteractive', '-File', $probe, '-ModulePath', $ModulePath) + $Arguments)
    return ($r.Output.Trim() -split "`n")[-1] | ConvertFrom-Json
}

$regA = $null; $regB = $null; $latencyProxy = $null
$results = [ordered]@{}
$raw = [System.Collections.Generic.List[string]]::new()
$latencyRaw = [System.Collections.Generic.List[string]]::new()
$syncRaw = [System.Collections.Generic.List[string]]::new()
$loadAtStart = (Get-Content /proc/loadavg -ErrorAction SilentlyContinue) -split ' ' | Select-Object -First 1
try {
    #region Fixtures
    if ($needFixtures) {
        $fixtureDir = Join-Path $WorkDirectory 'fixtures'
        $marker = Join-Path $fixtureDir "fixtures-$(if ($Quick) { 'quick' } else { 'full' }).json"
        if (Test-Path $marker) {
            $fixtures = Get-Content $marker -Raw | ConvertFrom-Json
            Write-Host 'Reusing the fixture images of an earlier run.'
        } else {
            if (Test-Path $fixtureDir) { Remove-Item -Recurse -Force $fixtureDir }
            New-Item -ItemType Directory -Path $fixtureDir | Out-Null
            $sw = [System.Diagnostics.Stopwatch]::StartNew()
            Write-Host 'Building fixture images ...'
            $tmp = Join-Path $fixtureDir 'tmp'
            New-Item -ItemType Directory -Path $tmp | Out-Null

            $app = Join-Path $fixtureDir 'app'
            New-LayoutDirectory $app
            $layers = @()
            New-FileTreeTar (Join-Path $tmp 'lib.tar') @('/usr/lib') $sizes.Lib
            $layers += Add-LayerBlob $app (Join-Path $tmp 'lib.tar')
            New-FileTreeTar (Join-Path $tmp 'share.tar') @('/usr/share') $sizes.Share
            $layers += Add-LayerBlob $app (Join-Path $tmp 'share.tar')
            New-FileTreeTar (Join-Path $tmp 'etc.tar') @('/etc') (2 * $MiB)
            $layers += Add-LayerBlob $app (Join-Path $tmp 'etc.tar')
            $compressed = ($layers | Measure-Object Size -Sum).Sum
            $randomBytes = [math]::Max($sizes.MinRandom, $sizes.MinTotal - $compressed)
            New-RandomTar (Join-Path $tmp 'random.tar') $randomBytes
            $layers += Add-LayerBlob $app (Join-Path $tmp 'random.tar') -Store
            Remove-Item (Join-Path $tmp '*.tar')
            $appDigest = Complete-OciLayout $app $layers 'v1'

            $big = Join-Path $fixtureDir 'big'
            New-LayoutDirectory $big
            New-RandomTar (Join-Path $tmp 'big.tar') ($sizes.Big - 10KB)
            $bigLayer = Add-LayerBlob $big (Join-Path $tmp 'big.tar') -Store
            Remove-Item (Join-Path $tmp 'big.tar')
            $bigDigest = Complete-OciLayout $big @($bigLayer) 'v1'

            $tiny = Join-Path $fixtureDir 'tiny'
            New-LayoutDirectory $tiny
            Set-Content -Path (Join-Path $tmp 'hello.txt') -Value 'hello from moby-bench'
            Invoke-Bash 'tar --create --file="$1" -C "$2" --owner=0 --group=0 --numeric-owner hello.txt' @((Join-Path $tmp 'tiny.tar'), $tmp)
            $tinyLayer = Add-LayerBlob $tiny (Join-Path $tmp 'tiny.tar')
            $tinyDigest = Complete-OciLayout $tiny @($tinyLayer) 't0000'
            Remove-Item -Recurse -Force $tmp

            $fixtures = [pscustomobject]@{
                App = [pscustomobject]@{ Layout = $app; Digest = $appDigest; Layers = $layers }
                Big = [pscustomobject]@{ Layout = $big; Digest = $bigDigest; Layers = @($bigLayer) }
                Tiny = [pscustomobject]@{ Layout = $tiny; Digest = $tinyDigest }
            }
            $fixtures | ConvertTo-Json -Depth 6 | Set-Content $marker
            Write-Host ("Fixtures built in {0:0.0} s." -f $sw.Elapsed.TotalSeconds)
        }
        $appTotal = ($fixtures.App.Layers | Measure-Object Size -Sum).Sum
        $largest = $fixtures.App.Layers | Sort-Object Size -Descending | Select-Object -First 1
        foreach ($l in $fixtures.App.Layers) {
            Write-Host ("  app layer {0}: {1:0.0} MB compressed, {2:0.0} MB uncompressed" -f $l.Digest.Substring(7, 12), ($l.Size / 1MB), ($l.UncompressedSize / 1MB))
        }
        Write-Host ("  app: {0:0.0} MB in {1} layers; big: {2:0.0} MB in 1 layer" -f ($appTotal / 1MB), @($fixtures.App.Layers).Count, ($fixtures.Big.Layers[0].Size / 1MB))
    }
    #endregion

    #region Registries
    $regA = Start-BenchRegistry (Join-Path $WorkDirectory 'registry-a')
    $regB = Start-BenchRegistry (Join-Path $WorkDirectory 'registry-b')
    $A = $regA.HostPort; $B = $regB.HostPort
    Write-Host "Source registry $A, destination registry $B"
    if ($needFixtures) {
        $sw = [System.Diagnostics.Stopwatch]::StartNew()
        foreach ($f in @(@($fixtures.App.Layout, 'bench/app:v1'), @($fixtures.Big.Layout, 'bench/big:v1'), @($fixtures.Tiny.Layout, 'bench/tags:t0000'))) {
            $tag = ($f[1] -split ':')[1]
            Invoke-NativeTimed skopeo @('copy', '--quiet', '--preserve-digests', '--dest-tls-verify=false', "oci:$($f[0]):$tag", "docker://$A/$($f[1])") | Out-Null
        }
        # 5,000 tags on one manifest: the same bytes PUT under each tag, 16 requests at a time.
        $handler = [System.Net.Http.SocketsHttpHandler]::new()
        $handler.MaxConnectionsPerServer = 16
        $http = [System.Net.Http.HttpClient]::new($handler)
        try {
            $manifestBytes = [System.IO.File]::ReadAllBytes((Join-Path $fixtures.Tiny.Layout ('blobs/sha256/' + $fixtures.Tiny.Digest.Substring(7))))
            $puts = [System.Collections.Generic.List[System.Threading.Tasks.Task[System.Net.Http.HttpResponseMessage]]]::new()
            for ($i = 1; $i -lt $sizes.Tags; $i++) {
                $content = [System.Net.Http.ByteArrayContent]::new($manifestBytes)
                $content.Headers.ContentType = [System.Net.Http.Headers.MediaTypeHeaderValue]::new('application/vnd.oci.image.manifest.v1+json')
                $puts.Add($http.PutAsync(('http://{0}/v2/bench/tags/manifests/t{1:d4}' -f $A, $i), $content))
            }
            [System.Threading.Tasks.Task]::WaitAll($puts.ToArray())
            $bad = @($puts | Where-Object { [int] $_.Result.StatusCode -ne 201 })
            if ($bad.Count) { throw "$($bad.Count) tag PUTs failed, e.g. $([int] $bad[0].Result.StatusCode)" }
            foreach ($t in $puts) { $t.Result.Dispose() }
        } finally { $http.Dispose() }
        Write-Host ("Fixtures pushed and {0} tags made in {1:0.0} s." -f $sizes.Tags, $sw.Elapsed.TotalSeconds)
    }
    #endregion

    Import-Module $ModulePath
    $raw.Add("Runs per tool: $Runs timed, after one untimed warm-up each; the order alternates (odd runs ours first).")

    # Times ours (Measure-Command, in this session) and theirs (a process started from this session), alternating.
    # $After (optional) runs after each side, warm-ups included, untimed; the run times go to $Log.
    function Measure-Pair([string] $Name, [scriptblock] $Prepare, [scriptblock] $Ours, [scriptblock] $Theirs, [scriptblock] $After = { param($side, $i) },
        [System.Collections.Generic.List[string]] $Log = $script:raw) {
        Write-Host "${Name}: warm-up"
        & $Prepare 'ours' 0; & $Ours 0 | Out-Null; & $After 'ours' 0
        & $Prepare 'theirs' 0; & $Theirs 0 | Out-Null; & $After 'theirs' 0
        $oursTimes = [System.Collections.Generic.List[double]]::new()
        $theirsTimes = [System.Collections.Generic.List[double]]::new()
        for ($i = 1; $i -le $Runs; $i++) {
            $order = if ($i % 2) { 'ours', 'theirs' } else { 'theirs', 'ours' }
            foreach ($side in $order) {
                & $Prepare $side $i
                if ($side -eq 'ours') {
                    $oursTimes.Add((Measure-Command { & $Ours $i | Out-Null }).TotalSeconds)
                } else {
                    $theirsTimes.Add((& $Theirs $i).Seconds)
                }
                & $After $side $i
            }
            Write-Host ("${Name}: run {0}: ours {1:0.000} s, theirs {2:0.000} s" -f $i, $oursTimes[-1], $theirsTimes[-1])
        }
        $Log.Add(("{0}: ours {1}; theirs {2}" -f $Name, (($oursTimes | ForEach-Object { $_.ToString('0.000') }) -join ', '), (($theirsTimes | ForEach-Object { $_.ToString('0.000') }) -join ', ')))
        return [pscustomobject]@{ Ours = Get-Stats $oursTimes.ToArray(); Theirs = Get-Stats $theirsTimes.ToArray() }
    }

    if ('Copy' -in $Scenario) {
        $results.Copy = Measure-Pair 'Copy' {
            param($side, $i)
            $script:regB = Reset-BenchRegistry $script:regB
            & sync
        } {
            Copy-RegistryImage -Source "$A/bench/app:v1" -Destination "$B/bench/app:v1"
        } {
            Invoke-NativeTimed skopeo @('copy', '--quiet', '--preserve-digests', '--src-tls-verify=false', '--dest-tls-verify=false', "docker://$A/bench/app:v1", "docker://$B/bench/app:v1")
        }
    }

    if ('Export' -in $Scenario) {
        $archive = Join-Path $WorkDirectory 'export.tar'
        $results.Export = Measure-Pair 'Export' {
            param($side, $i)
            Remove-Item $archive -ErrorAction SilentlyContinue
            & sync
        } {
            Export-DockerImage -Reference "$A/bench/app:v1" -Path $archive
        } {
            Invoke-NativeTimed skopeo @('copy', '--quiet', '--src-tls-verify=false', "docker://$A/bench/app:v1", "docker-archive:${archive}:bench/app:v1")
        }
        Remove-Item $archive -ErrorAction SilentlyContinue
    }

    if ('Blob' -in $Scenario) {
        $blobFile = Join-Path $WorkDirectory 'blob.bin'
        $results.Blob = Measure-Pair 'Blob' {
            param($side, $i)
            Remove-Item $blobFile -ErrorAction SilentlyContinue
            & sync
        } {
            Save-ImageBlob -Repository "$A/bench/app" -Digest $largest.Digest -Path $blobFile
        } {
            Invoke-NativeTimed curl @('-sS', '-f', '-o', $blobFile, "http://$A/v2/bench/app/blobs/$($largest.Digest)")
        }
        Remove-Item $blobFile -ErrorAction SilentlyContinue
    }

    if ('Tags' -in $Scenario) {
        $results.Tags = Measure-Pair 'Tags' { param($side, $i) } {
            $tags = @(Get-RegistryTag "$A/bench/tags")
            if ($tags.Count -ne $sizes.Tags) { throw "Get-RegistryTag listed $($tags.Count) tags, not $($sizes.Tags)." }
        } {
            Invoke-NativeTimed skopeo @('list-tags', '--tls-verify=false', "docker://$A/bench/tags")
        }
    }

    if ('Memory' -in $Scenario) {
        $memRuns = if ($Quick) { 1 } else { 3 }
        $bigSize = $fixtures.Big.Layers[0].Size
        foreach ($op in 'Copy', 'Export') {
            $over = [System.Collections.Generic.List[double]]::new()
            $probes = @()
            for ($i = 1; $i -le $memRuns; $i++) {
                if ($op -eq 'Copy') {
                    $regB = Reset-BenchRegistry $regB
                    & sync
                    $r = Invoke-Probe @('-Mode', 'Copy', '-Source', "$A/bench/big:v1", '-Destination', "$B/bench/big:v1")
                } else {
                    $bigArchive = Join-Path $WorkDirectory 'big.tar'
                    Remove-Item $bigArchive -ErrorAction SilentlyContinue
                    & sync
                    $r = Invoke-Probe @('-Mode', 'Export', '-Source', "$A/bench/big:v1", '-Destination', $bigArchive)
                    Remove-Item $bigArchive -ErrorAction SilentlyContinue
                }
                $over.Add($r.OverBaselineKb / 1024)
                $probes += $r
                Write-Host ("Memory {0} {1:0} MiB: run {2}: {3:0.0} MB over an idle {4:0.0} MB (peak {5:0.0} MB) in {6:0.0} s; {7} MB allocated, GCs {8}/{9}/{10}" -f `
                        $op, ($bigSize / 1MB), $i, ($r.OverBaselineKb / 1024), ($r.BaselineKb / 1024), ($r.PeakKb / 1024), $r.Seconds, $r.AllocatedMb, $r.Gen0, $r.Gen1, $r.Gen2)
                $raw.Add(("Memory {0}: {1}" -f $op, ($r | ConvertTo-Json -Compress)))
            }
            # skopeo's peak resident set in all for the same operation, for reference.
            if ($op -eq 'Copy') {
                $regB = Reset-BenchRegistry $regB
                & sync
                $s = Invoke-NativeTimed skopeo @('copy', '--quiet', '--preserve-digests', '--src-tls-verify=false', '--dest-tls-verify=false', "docker://$A/bench/big:v1", "docker://$B/bench/big:v1") -SampleMemory
            } else {
                $bigArchive = Join-Path $WorkDirectory 'big.tar'
                Remove-Item $bigArchive -ErrorAction SilentlyContinue
                & sync
                $s = Invoke-NativeTimed skopeo @('copy', '--quiet', '--src-tls-verify=false', "docker://$A/bench/big:v1", "docker-archive:${bigArchive}:bench/big:v1") -SampleMemory
                Remove-Item $bigArchive -ErrorAction SilentlyContinue
            }
            Write-Host ("Memory {0}: skopeo peaked at {1:0.0} MB in all, in {2:0.0} s" -f $op, ($s.PeakKb / 1024), $s.Seconds)
            $raw.Add(("Memory {0} skopeo: peak {1:0.0} MB, {2:0.00} s" -f $op, ($s.PeakKb / 1024), $s.Seconds))
            $results["Memory$op"] = [pscustomobject]@{ Ours = Get-Stats $over.ToArray(); SkopeoPeakMb = $s.PeakKb / 1024; Probes = $probes; SizeMb = $bigSize / 1MB }
        }
    }

    if ('Import' -in $Scenario) {
        $ms = [System.Collections.Generic.List[double]]::new()
        Invoke-Probe @('-Mode', 'Import') | Out-Null # warm the disk cache
        for ($i = 1; $i -le $Runs; $i++) { $ms.Add((Invoke-Probe @('-Mode', 'Import')).ImportMs) }
        $raw.Add("Import-Module ms: " + (($ms | ForEach-Object { $_.ToString('0.0') }) -join ', '))
        $results.Import = [pscustomobject]@{ Ours = Get-Stats $ms.ToArray() }
    }

    if ('Latency' -in $Scenario) {
        # One image per copy, so that nothing a copy sent can be found (or mounted, or remembered by skopeo's blob-info
        # cache) by a later one; pushed straight to the source registry, not through the proxy.
        $latencyLayers = 12
        $latencyImages = 2 * ($Runs + 1) + $ThrottleLimits.Count * $Runs
        $sw = [System.Diagnostics.Stopwatch]::StartNew()
        Write-Host "Latency: building and pushing $latencyImages images of $latencyLayers random layers (1-3 MiB) ..."
        $layout = Join-Path $WorkDirectory 'latency-image'
        for ($n = 1; $n -le $latencyImages; $n++) {
            $image = New-RandomLayerImage $layout $latencyLayers (1 * $MiB) (3 * $MiB) 'v1'
            Invoke-NativeTimed skopeo @('copy', '--quiet', '--preserve-digests', '--dest-tls-verify=false', "oci:${layout}:v1", "docker://$A/latency/src-${n}:v1") | Out-Null
            Remove-Item -Recurse -Force $layout
        }
        $latencyBytes = ($image.Layers | Measure-Object Size -Sum).Sum
        Write-Host ("Latency: images pushed in {0:0.0} s ({1:0.0} MB of layers each)." -f $sw.Elapsed.TotalSeconds, ($latencyBytes / 1MB))

        $latencyProxy = Start-LatencyProxy (@($pwshExe) + $pwshPrefix) $TestBedPath "http://$A" "http://$B" $LatencyMs
        $PA = $latencyProxy.Source; $PB = $latencyProxy.Destination
        Write-Host "Latency: proxies $PA -> $A and $PB -> $B, $LatencyMs ms before every request"
        $profileLog = Join-Path $WorkDirectory 'latency-requests.log'
        $script:nextImage = 0
        $script:latencyCounts = @{ ours = [System.Collections.Generic.List[object]]::new(); theirs = [System.Collections.Generic.List[object]]::new() }
        # Each copy takes the next image and a destination repository of its own.
        function Get-NextLatencyImage { $script:nextImage++; return $script:nextImage }

        $results.Latency = Measure-Pair 'Latency' {
            param($side, $i)
            Get-LatencyProxyCounts $latencyProxy | Out-Null
        } {
            param($i)
            $n = Get-NextLatencyImage
            Copy-RegistryImage -Source "$PA/latency/src-${n}:v1" -Destination "$PB/latency/ours-${n}:v1"
        } {
            param($i)
            $n = Get-NextLatencyImage
            Invoke-NativeTimed skopeo @('copy', '--quiet', '--src-tls-verify=false', '--dest-tls-verify=false', "docker://$PA/latency/src-${n}:v1", "docker://$PB/latency/skopeo-${n}:v1")
        } {
            param($side, $i)
            # The requests of the last timed run of each are kept whole, for reading where the round trips go.
            $file = if ($i -eq $Runs) { $profileLog } else { '' }
            if ($file) { Add-Content -Path $profileLog -Value "# $side, run $i" }
            $c = Get-LatencyProxyCounts $latencyProxy $file
            if ($i -gt 0) { $script:latencyCounts[$side].Add($c) }
        } $latencyRaw

        # Our copy with each -ThrottleLimit; the order of the values rotates from run to run.
        $sweep = [ordered]@{}
        foreach ($t in $ThrottleLimits) { $sweep[[string] $t] = [pscustomobject]@{ Times = [System.Collections.Generic.List[double]]::new(); Counts = [System.Collections.Generic.List[object]]::new() } }
        for ($i = 1; $i -le $Runs; $i++) {
            $k = ($i - 1) % $ThrottleLimits.Count
            $order = @($ThrottleLimits | Select-Object -Skip $k) + @($ThrottleLimits | Select-Object -First $k)
            foreach ($t in $order) {
                $n = Get-NextLatencyImage
                Get-LatencyProxyCounts $latencyProxy | Out-Null
                $seconds = (Measure-Command { Copy-RegistryImage -Source "$PA/latency/src-${n}:v1" -Destination "$PB/latency/throttle$t-${n}:v1" -ThrottleLimit $t | Out-Null }).TotalSeconds
                $sweep[[string] $t].Times.Add($seconds)
                $sweep[[string] $t].Counts.Add((Get-LatencyProxyCounts $latencyProxy))
            }
            Write-Host ("Latency -ThrottleLimit, run {0}: {1}" -f $i, (($ThrottleLimits | ForEach-Object { '{0}: {1:0.000} s' -f $_, $sweep[[string] $_].Times[-1] }) -join ', '))
        }
        foreach ($t in $ThrottleLimits) {
            $latencyRaw.Add(("Latency -ThrottleLimit {0}: {1}" -f $t, (($sweep[[string] $t].Times | ForEach-Object { $_.ToString('0.000') }) -join ', ')))
        }
        $results.Latency | Add-Member -NotePropertyName Counts -NotePropertyValue $script:latencyCounts
        $results.Latency | Add-Member -NotePropertyName Sweep -NotePropertyValue $sweep
        $results.Latency | Add-Member -NotePropertyName LayerBytes -NotePropertyValue $latencyBytes
        $results.Latency | Add-Member -NotePropertyName Layers -NotePropertyValue $latencyLayers
        Stop-LatencyProxy $latencyProxy
        $latencyProxy = $null
        if ($KeepWork) { Write-Host "Latency: the requests of the last timed runs are in $profileLog" }
    }
    if ('Sync' -in $Scenario) {
        $syncTagNames = @(0..($SyncTags - 1) | ForEach-Object { 't{0:d3}' -f $_ })
        $syncChanged = 5
        $sw = [System.Diagnostics.Stopwatch]::StartNew()
        $syncLayout = Join-Path $WorkDirectory 'sync-image'
        $syncImage = New-RandomLayerImage $syncLayout 3 (1 * $MiB) (2 * $MiB) 'v1'
        Publish-SyncTags $A 'sync/app' $syncLayout $syncImage.Layers $syncTagNames 'r0' -WithLayers | Out-Null
        $syncBytes = ($syncImage.Layers | Measure-Object Size -Sum).Sum
        Write-Host ("Sync: {0} tags over 3 shared layers ({1:0.0} MB) pushed in {2:0.0} s." -f $SyncTags, ($syncBytes / 1MB), $sw.Elapsed.TotalSeconds)
        $script:syncRevision = 0
        # A new revision of the next $syncChanged tags: new configs, so new manifests, over the same layers.
        function Update-SyncTags {
            $script:syncRevision++
            $skip = (($script:syncRevision - 1) * $syncChanged) % $syncTagNames.Count
            $pick = @($syncTagNames | Select-Object -Skip $skip -First $syncChanged)
            Publish-SyncTags $A 'sync/app' $syncLayout $syncImage.Layers $pick "r$($script:syncRevision)" | Out-Null
        }
        function Invoke-OurSync([string] $Source, [string] $Destination, [string] $Phase) {
            $r = @(Sync-RegistryRepository -Source $Source -Destination $Destination)
            $expected = switch ($Phase) { 'First' { @{ Copied = $SyncTags } } 'Unchanged' { @{ Unchanged = $SyncTags } } default { @{ Updated = $syncChanged; Unchanged = $SyncTags - $syncChanged } } }
            $got = @{}; foreach ($g in $r | Group-Object { $_.Action.ToString() }) { $got[$g.Name] = $g.Count }
            foreach ($k in $expected.Keys) { if ($got[$k] -ne $expected[$k]) { throw "Sync $Phase gave $(($got.GetEnumerator() | ForEach-Object { "$($_.Value) $($_.Key)" }) -join ', '), not $(($expected.GetEnumerator() | ForEach-Object { "$($_.Value) $($_.Key)" }) -join ', ')." } }
        }
        # skopeo sync puts SOURCE's last path component under DESTINATION: B/skopeo/app.
        function Invoke-SkopeoSync([string] $Source, [string] $Destination) {
            Invoke-NativeTimed skopeo @('sync', '--src', 'docker', '--dest', 'docker', '--src-tls-verify=false', '--dest-tls-verify=false', '--preserve-digests', $Source, $Destination)
        }
        $phases = @('First', 'Unchanged', 'Changed')
        $syncTimes = @{}
        foreach ($side in 'ours', 'theirs') { $syncTimes[$side] = @{}; foreach ($ph in $phases) { $syncTimes[$side][$ph] = [System.Collections.Generic.List[double]]::new() } }
        # Run 0 is the warm-up. Each run: an empty destination, then each phase for both sides, the order alternating.
        for ($i = 0; $i -le $Runs; $i++) {
            $regB = Reset-BenchRegistry $regB
            & sync
            $order = if ($i % 2) { 'ours', 'theirs' } else { 'theirs', 'ours' }
            $line = [System.Collections.Generic.List[string]]::new()
            foreach ($ph in $phases) {
                if ($ph -eq 'Changed') { Update-SyncTags }
                $last = @{}
                foreach ($side in $order) {
                    $seconds = if ($side -eq 'ours') {
                        (Measure-Command { Invoke-OurSync "$A/sync/app" "$B/ours/app" $ph }).TotalSeconds
                    } else {
                        (Invoke-SkopeoSync "$A/sync/app" "$B/skopeo").Seconds
                    }
                    $last[$side] = $seconds
                    if ($i -gt 0) { $syncTimes[$side][$ph].Add($seconds) }
                }
                $line.Add(('{0}: ours {1:0.000} s, skopeo {2:0.000} s' -f $ph, $last.ours, $last.theirs))
            }
            Write-Host ("Sync: {0}: {1}" -f $(if ($i -eq 0) { 'warm-up' } else { "run $i" }), ($line -join '; '))
        }
        foreach ($side in 'ours', 'theirs') {
            foreach ($ph in $phases) { $syncRaw.Add(("Sync {0} {1}: {2}" -f $ph, $side, (($syncTimes[$side][$ph] | ForEach-Object { $_.ToString('0.000') }) -join ', '))) }
        }
        # The requests of a first sync and of a resync with nothing changed, through proxies that only count.
        $countProxy = Start-LatencyProxy (@($pwshExe) + $pwshPrefix) $TestBedPath "http://$A" "http://$B" 0
        try {
            $PA = $countProxy.Source; $PB = $countProxy.Destination
            Get-LatencyProxyCounts $countProxy | Out-Null
            $syncCounts = [ordered]@{}
            Invoke-OurSync "$PA/sync/app" "$PB/counted-ours/app" 'First'
            $syncCounts['ours first'] = Get-LatencyProxyCounts $countProxy
            Invoke-OurSync "$PA/sync/app" "$PB/counted-ours/app" 'Unchanged'
            $syncCounts['ours unchanged'] = Get-LatencyProxyCounts $countProxy
            Invoke-SkopeoSync "$PA/sync/app" "$PB/counted-skopeo" | Out-Null
            $syncCounts['skopeo first'] = Get-LatencyProxyCounts $countProxy
            Invoke-SkopeoSync "$PA/sync/app" "$PB/counted-skopeo" | Out-Null
            $syncCounts['skopeo unchanged'] = Get-LatencyProxyCounts $countProxy
        } finally {
            Stop-LatencyProxy $countProxy
        }
        foreach ($k in $syncCounts.Keys) { $syncRaw.Add(("Requests, {0}: {1}" -f $k, ($syncCounts[$k] | ConvertTo-Json -Compress -Depth 4))) }
        $results.Sync = [pscustomobject]@{ Times = $syncTimes; Counts = $syncCounts; Bytes = $syncBytes; Tags = $SyncTags; Changed = $syncChanged }
        Remove-Item -Recurse -Force $syncLayout -ErrorAction SilentlyContinue
    }
} finally {
    Stop-LatencyProxy $latencyProxy
    Stop-BenchRegistry $regA
    Stop-BenchRegistry $regB
    if (-not $KeepWork) {
        Remove-Item -Recurse -Force $WorkDirectory -ErrorAction SilentlyContinue
    } elseif ($regA) {
        # The next run pushes the fixtures again into fresh registries.
        Remove-Item -Recurse -Force (Join-Path $WorkDirectory 'registry-a'), (Join-Path $WorkDirectory 'registry-b') -ErrorAction SilentlyContinue
    }
}

#region Report
function Format-Range($s, [string] $unit, [string] $fmt = '0.00') {
    return "{0} {3} ({1}–{2})" -f $s.Median.ToString($fmt), $s.Min.ToString($fmt), $s.Max.ToString($fmt), $unit
}
$rows = [System.Collections.Generic.List[object]]::new()
function Add-Row([string] $What, [string] $Ours, [string] $Theirs, [string] $Ratio, [string] $Target, [Nullable[bool]] $Met) {
    $rows.Add([pscustomobject]@{ Scenario = $What; Ours = $Ours; Reference = $Theirs; Ratio = $Ratio; Target = $Target; Met = if ($null -eq $Met) { '' } elseif ($Met) { 'yes' } else { 'NO' } })
}
$pairs = if (-not $needFixtures) { @() } else { @(
    @('Copy', ('Copy-RegistryImage vs skopeo copy docker→docker ({0:0} MB)' -f ($appTotal / 1MB)), 0.8),
    @('Export', 'Export-DockerImage vs skopeo copy → docker-archive', 0.8),
    @('Blob', ('Save-ImageBlob vs curl -o ({0:0} MB layer)' -f ($largest.Size / 1MB)), 1.2),
    @('Tags', ('Get-RegistryTag vs skopeo list-tags ({0} tags)' -f $sizes.Tags), 1.0)
) }
foreach ($p in $pairs) {
    if (-not $results.Contains($p[0])) { continue }
    $r = $results[$p[0]]
    $ratio = $r.Ours.Median / $r.Theirs.Median
    $unit = 's'
    Add-Row $p[1] (Format-Range $r.Ours $unit) (Format-Range $r.Theirs $unit) $ratio.ToString('0.00') ('≤ ' + $p[2].ToString('0.0#')) ($ratio -le $p[2])
}
foreach ($op in 'Copy', 'Export') {
    if (-not $results.Contains("Memory$op")) { continue }
    $m = $results["Memory$op"]
    Add-Row ('Peak working set over idle, {0:0} MiB {1}' -f $m.SizeMb, $op.ToLowerInvariant()) (Format-Range $m.Ours 'MB' '0.0') ('skopeo {0:0.0} MB in all' -f $m.SkopeoPeakMb) '' '≤ 64 MB' ($m.Ours.Max -le 64)
}
if ($results.Contains('Import')) {
    Add-Row 'Import-Module in a fresh pwsh -NoProfile' (Format-Range $results.Import.Ours 'ms' '0') '' '' '< 300 ms' ($results.Import.Ours.Median -lt 300)
}

$table = @(
    '| Scenario | Ours: median (min–max) | Reference: median (min–max) | Ratio ours/ref | Target | Met |'
    '|---|---|---|---|---|---|'
    foreach ($r in $rows) { "| $($r.Scenario) | $($r.Ours) | $($r.Reference) | $($r.Ratio) | $($r.Target) | $($r.Met) |" }
)
if ($rows.Count -gt 0) {
    Write-Host ''
    $table | ForEach-Object { Write-Host $_ }
    Write-Host ''
}

# The text of a report section between its markers; the rest of the file is kept.
function Set-ReportSection([string] $Path, [string] $Marker, [string[]] $Lines) {
    $text = (@("<!-- ${Marker}:begin (written by bench/Bench.ps1; edit outside these markers) -->") + $Lines + @("<!-- ${Marker}:end -->")) -join "`n"
    if (Test-Path $Path) {
        $old = Get-Content $Path -Raw
        $m = [regex]::Match($old, "(?s)<!-- ${Marker}:begin.*?<!-- ${Marker}:end -->")
        if ($m.Success) { $text = $old.Substring(0, $m.Index) + $text + $old.Substring($m.Index + $m.Length) }
        else { $text = $old.TrimEnd() + "`n`n" + $text + "`n" }
    } else {
        $text = "# Benchmark: MobyDistribution vs skopeo`n`nRun it with ``dotnet pwsh ./build.ps1 -Task Bench`` (``-Quick`` for a smoke run: ``dotnet pwsh ./bench/Bench.ps1 -ModulePath out/MobyDistribution/MobyDistribution.psd1 -Quick``).`n`n" + $text + "`n"
    }
    Set-Content -Path $Path -Value $text.TrimEnd() -Encoding utf8NoBOM
    Write-Host "Wrote $Path ($Marker)"
}

# Latency: requests per copy by class, median over the timed runs (a class absent from a run counts 0 there).
function Get-MedianCounts([object[]] $Takes, [string] $Proxy) {
    $keys = @($Takes | ForEach-Object { $_.$Proxy.Counts.PSObject.Properties.Name } | Sort-Object -Unique)
    $m = [ordered]@{}
    $m['all requests'] = (Get-Stats @($Takes | ForEach-Object { [double] $_.$Proxy.Requests }))
    $m['connections opened'] = (Get-Stats @($Takes | ForEach-Object { [double] $_.$Proxy.Connections }))
    foreach ($k in $keys) {
        $m[$k] = Get-Stats @($Takes | ForEach-Object { $c = $_.$Proxy.Counts.PSObject.Properties[$k]; if ($c) { [double] $c.Value } else { 0.0 } })
    }
    return $m
}
function Format-Count($s) {
    if ($null -eq $s) { return '0' }
    if ($s.Min -eq $s.Max) { return $s.Median.ToString('0.#') }
    return '{0} ({1}–{2})' -f $s.Median.ToString('0.#'), $s.Min.ToString('0'), $s.Max.ToString('0')
}

$latencyTable = @()
if ($results.Contains('Latency')) {
    $L = $results.Latency
    $ratio = $L.Ours.Median / $L.Theirs.Median
    $latencyTable += @(
        '| Scenario | Ours: median (min–max) | skopeo: median (min–max) | Ratio ours/skopeo | Target | Met |'
        '|---|---|---|---|---|---|'
        ('| Copy-RegistryImage vs skopeo copy docker→docker, {0} layers ({1:0.0} MB), {2} ms per request | {3} | {4} | {5} | ≤ 0.6 | {6} |' -f `
                $L.Layers, ($L.LayerBytes / 1MB), $LatencyMs, (Format-Range $L.Ours 's'), (Format-Range $L.Theirs 's'), $ratio.ToString('0.00'), $(if ($ratio -le 0.6) { 'yes' } else { 'NO' }))
    )
    $columns = @(
        @('Ours → destination', (Get-MedianCounts $L.Counts.ours.ToArray() 'Destination')),
        @('skopeo → destination', (Get-MedianCounts $L.Counts.theirs.ToArray() 'Destination')),
        @('Ours → source', (Get-MedianCounts $L.Counts.ours.ToArray() 'Source')),
        @('skopeo → source', (Get-MedianCounts $L.Counts.theirs.ToArray() 'Source'))
    )
    $classes = @('all requests', 'connections opened') + @($columns | ForEach-Object { $_[1].Keys } | Where-Object { $_ -notin 'all requests', 'connections opened' } | Sort-Object -Unique)
    $countTable = @(
        ('| Per copy (median over the timed runs; min–max when they differ) | ' + (($columns | ForEach-Object { $_[0] }) -join ' | ') + ' |')
        ('|---|' + (($columns | ForEach-Object { '---' }) -join '|') + '|')
        foreach ($k in $classes) { "| $k | " + (($columns | ForEach-Object { Format-Count $_[1][$k] }) -join ' | ') + ' |' }
    )
    $sweepTable = @(
        '| Our copy with -ThrottleLimit | Median (min–max) | Ratio to skopeo''s median | Connections to the destination | Requests to the destination |'
        '|---|---|---|---|---|'
        foreach ($t in $L.Sweep.Keys) {
            $st = Get-Stats $L.Sweep[$t].Times.ToArray()
            $dc = Get-MedianCounts $L.Sweep[$t].Counts.ToArray() 'Destination'
            "| $t | $(Format-Range $st 's') | $(($st.Median / $L.Theirs.Median).ToString('0.00')) | $(Format-Count $dc['connections opened']) | $(Format-Count $dc['all requests']) |"
        }
    )
    Write-Host ''
    ($latencyTable + @('') + $countTable + @('') + $sweepTable) | ForEach-Object { Write-Host $_ }
    Write-Host ''
}

if ($ResultsPath) {
    $os = (Get-Content /etc/os-release | Where-Object { $_ -like 'PRETTY_NAME=*' }) -replace '^PRETTY_NAME="?|"$', ''
    $cpu = ((Get-Content /proc/cpuinfo | Where-Object { $_ -like 'model name*' } | Select-Object -First 1) -split ':', 2)[1].Trim()
    $memKb = [long] (((Get-Content /proc/meminfo | Where-Object { $_ -like 'MemTotal:*' }) -replace '[^0-9]', ''))
    $skopeoVersion = skopeo --version
    $registryVersion = 'docker-registry (distribution) ' + ((docker-registry --version) -split ' ')[-1]
    $curlVersion = ((curl --version | Select-Object -First 1) -split ' ')[0..1] -join ' '
    $machine = @(
        "- Machine: $([Environment]::ProcessorCount) CPUs ($cpu), $([math]::Round($memKb / 1MB, 1)) GiB memory, $os, Linux $(uname -r)"
        "- MobyDistribution $moduleVersion; PowerShell $($PSVersionTable.PSVersion) on $([System.Runtime.InteropServices.RuntimeInformation]::FrameworkDescription)"
        "- $skopeoVersion; $registryVersion; $curlVersion"
    )
    $runLine = "- Run: $(Get-Date -Format 'yyyy-MM-dd HH:mm') UTC$((Get-Date).ToString('zzz')), $(if ($Quick) { '-Quick, ' })$Runs timed runs per tool after a warm-up, order alternating; times are wall clock; MB = 2^20 bytes; the whole bench took $([math]::Round($benchClock.Elapsed.TotalMinutes, 1)) min"
    # A run of the Latency scenario alone leaves the main section (the other scenarios' latest run) as it was.
    if ($rows.Count -gt 0) {
        $fixtureLine = if (-not $needFixtures) { @() } else { ("- Fixtures: app = {0} gzip layers, {1:0.0} MB compressed / {2:0.0} MB uncompressed ({3}); big = one {4:0} MiB gzip layer of random bytes; tags = {5} tags on one manifest" -f `
                @($fixtures.App.Layers).Count, ($appTotal / 1MB), (($fixtures.App.Layers | Measure-Object UncompressedSize -Sum).Sum / 1MB),
            (($fixtures.App.Layers | ForEach-Object { '{0:0.0}/{1:0.0}' -f ($_.Size / 1MB), ($_.UncompressedSize / 1MB) }) -join ', '), ($fixtures.Big.Layers[0].Size / 1MB), $sizes.Tags) }
        Set-ReportSection $ResultsPath 'bench' (@('## Latest run', '') + $machine + @($fixtureLine, $runLine, '') + $table + @('', '<details><summary>Every run</summary>', '') +
            ($raw | ForEach-Object { "- $_" }) + @('', '</details>'))
    }
    if ($results.Contains('Latency')) {
        $L = $results.Latency
        $notes = @(
            ("- Fixture: a new image for every copy, {0} gzip layers of random bytes, from 1 to 3 MiB each ({1:0.0} MB in all), pushed straight to the source registry; every copy goes to a new destination repository, so nothing can be found there, mounted, or remembered by skopeo's blob-info cache" -f $L.Layers, ($L.LayerBytes / 1MB))
            "- Latency: each registry behind its own FaultProxy of the test bed (bench/LatencyProxy.ps1, a pwsh of its own) that holds every request $LatencyMs ms once its headers have arrived, then forwards it; opening a connection is not delayed"
            "- skopeo: ``skopeo copy --src-tls-verify=false --dest-tls-verify=false docker://SOURCE-PROXY/… docker://DESTINATION-PROXY/…``; ours: ``Copy-RegistryImage`` in the bench's session, default -ThrottleLimit; then ours with each -ThrottleLimit, $Runs runs each, the order of the values rotating from run to run"
        )
        Set-ReportSection $ResultsPath 'bench-latency' (@('## Latency: latest run', '', "Re-run only this: ``dotnet pwsh ./build.ps1 -Task Bench -Scenario Latency``.", '') + $machine + $notes + @($runLine, '') + $latencyTable + @('') +
            $countTable + @('') + $sweepTable + @('', '<details><summary>Every run</summary>', '') + ($latencyRaw | ForEach-Object { "- $_" }) + @('', '</details>'))
    }
    if ($results.Contains('Sync')) {
        $S = $results.Sync
        $loadAtEnd = (Get-Content /proc/loadavg -ErrorAction SilentlyContinue) -split ' ' | Select-Object -First 1
        $syncTable = @(
            '| Scenario | Ours: median (min–max) | skopeo sync: median (min–max) | Ratio ours/skopeo | Target | Met |'
            '|---|---|---|---|---|---|'
            foreach ($p in @(@('First', 'first sync into an empty destination', 0.7), @('Unchanged', 'resync, nothing changed', 0.3), @('Changed', "resync after $($S.Changed) tags changed", $null))) {
                $o = Get-Stats $S.Times.ours[$p[0]].ToArray(); $t = Get-Stats $S.Times.theirs[$p[0]].ToArray()
                $ratio = $o.Median / $t.Median
                $target = if ($null -ne $p[2]) { '≤ ' + $p[2].ToString('0.0') } else { '' }
                $met = if ($null -eq $p[2]) { '' } elseif ($ratio -le $p[2]) { 'yes' } else { 'NO' }
                "| Sync-RegistryRepository vs skopeo sync, $($S.Tags) tags: $($p[1]) | $(Format-Range $o 's') | $(Format-Range $t 's') | $($ratio.ToString('0.00')) | $target | $met |"
            }
        )
        function Get-SyncCount($take, [string] $side, [string] $key) {
            if (-not $key) { return [int] $take.$side.Requests }
            $c = $take.$side.Counts.PSObject.Properties[$key]; if ($c) { [int] $c.Value } else { 0 }
        }
        $countRows = @('all requests', 'HEAD manifest', 'GET manifest', 'PUT manifest', 'HEAD blob', 'GET blob', 'POST upload', 'PUT upload', 'PATCH upload', 'GET tags', 'GET ping')
        $countTable = @(
            '| Requests (through a FaultProxy that only counts) | Ours, first: source / destination | skopeo, first: source / destination | Ours, unchanged: source / destination | skopeo, unchanged: source / destination |'
            '|---|---|---|---|---|'
            foreach ($row in $countRows) {
                $key = if ($row -eq 'all requests') { '' } else { $row }
                $cells = foreach ($k in 'ours first', 'skopeo first', 'ours unchanged', 'skopeo unchanged') { '{0} / {1}' -f (Get-SyncCount $S.Counts[$k] 'Source' $key), (Get-SyncCount $S.Counts[$k] 'Destination' $key) }
                "| $row | $($cells -join ' | ') |"
            }
        )
        $oursUnchanged = $S.Counts['ours unchanged']
        $perTagSource = (Get-SyncCount $oursUnchanged 'Source' 'HEAD manifest') / $S.Tags
        $perTagDestination = (Get-SyncCount $oursUnchanged 'Destination' 'HEAD manifest') / $S.Tags
        $otherRequests = (Get-SyncCount $oursUnchanged 'Source' '') + (Get-SyncCount $oursUnchanged 'Destination' '') - (Get-SyncCount $oursUnchanged 'Source' 'HEAD manifest') - (Get-SyncCount $oursUnchanged 'Destination' 'HEAD manifest')
        $notes = @(
            ("- Load: 1-minute load average {0} at the start of the bench and {1} at the end, on {2} CPUs. **The machine was loaded** (about seven agents building and testing on it at once): read the ratios, which compare runs made side by side, rather than the absolute times" -f $loadAtStart, $loadAtEnd, [Environment]::ProcessorCount)
            ("- Fixture: one repository of {0} tags, each a distinct OCI manifest (a config of its own, differing by a label) over the same 3 gzip layers of random bytes ({1:0.0} MB); two local registries, source and destination" -f $S.Tags, ($S.Bytes / 1MB))
            "- skopeo: ``skopeo sync --src docker --dest docker --src-tls-verify=false --dest-tls-verify=false --preserve-digests A/sync/app B/skopeo``; ours: ``Sync-RegistryRepository -Source A/sync/app -Destination B/ours/app`` in the bench's session, default -ThrottleLimit (8 tags at once); every run of ours is checked (all Copied, all Unchanged, exactly $($S.Changed) Updated)"
            "- Each run: the destination registry emptied and restarted, then for each phase both sides, the order alternating from run to run: a first sync; a resync with nothing changed; a resync after $($S.Changed) tags of the source got new manifests (the next $($S.Changed) tags each run)"
            ("- **What an unchanged tag costs us: {0:0.##} HEAD request on the source and {1:0.##} on the destination**, nothing else; the whole resync adds {2} other requests (the tag listings of both sides, and pings if any)" -f $perTagSource, $perTagDestination, $otherRequests)
        )
        Write-Host ''
        ($syncTable + @('') + $countTable) | ForEach-Object { Write-Host $_ }
        Write-Host ''
        if ($ResultsPath) {
            Set-ReportSection $ResultsPath 'bench-sync' (@('## Sync: latest run', '', "Re-run only this: ``dotnet pwsh ./build.ps1 -Task Bench -Scenario Sync``.", '') + $machine + $notes + @($runLine, '') + $syncTable + @('') +
                $countTable + @('', '<details><summary>Every run</summary>', '') + ($syncRaw | ForEach-Object { "- $_" }) + @('', '</details>'))
        }
    }
}
#endregion
