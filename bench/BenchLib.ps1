# Helpers of bench/Bench.ps1: local registries, fixture images, timed native commands, statistics.
# Dot-sourced; nothing here runs on its own.

Set-StrictMode -Version Latest

#region Registries

function Get-FreeTcpPort {
    $listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
    $listener.Start()
    try { return ([System.Net.IPEndPoint] $listener.LocalEndpoint).Port } finally { $listener.Stop() }
}

# Starts Debian's docker-registry (distribution 2.8) on a free loopback port with its storage under $Directory.
function Start-BenchRegistry([string] $Directory, [int] $Port = 0) {
    if ($Port -eq 0) { $Port = Get-FreeTcpPort }
    $storage = Join-Path $Directory 'storage'
    New-Item -ItemType Directory -Force -Path $storage | Out-Null
    $config = Join-Path $Directory 'config.yml'
    @"
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage:
  filesystem: {rootdirectory: $storage}
  delete: {enabled: true}
http:
  addr: 127.0.0.1:$Port
  secret: moby-bench
"@ | Set-Content -Path $config -Encoding utf8
    $log = Join-Path $Directory 'registry.log'
    $psi = [System.Diagnostics.ProcessStartInfo]::new('bash')
    $psi.ArgumentList.Add('-c')
    $psi.ArgumentList.Add('exec docker-registry serve "$1" >>"$2" 2>&1')
    $psi.ArgumentList.Add('registry')
    $psi.ArgumentList.Add($config)
    $psi.ArgumentList.Add($log)
    $psi.UseShellExecute = $false
    $process = [System.Diagnostics.Process]::Start($psi)
    $registry = [pscustomobject]@{
        Directory = $Directory
        Storage   = $storage
        Port      = $Port
        HostPort  = "127.0.0.1:$Port"
        Process   = $process
    }
    $deadline = [DateTime]::UtcNow.AddSeconds(20)
    $probe = [System.Net.Http.HttpClient]::new()
    $probe.Timeout = [TimeSpan]::FromSeconds(2)
    try {
        while ($true) {
            if ($process.HasExited) { throw "docker-registry exited at start: $(Get-Content $log -Raw -ErrorAction SilentlyContinue)" }
            try {
                $r = $probe.GetAsync("http://127.0.0.1:$Port/v2/").GetAwaiter().GetResult()
                if ([int] $r.StatusCode -in 200, 401) { $r.Dispose(); break }
                $r.Dispose()
            } catch [System.Net.Http.HttpRequestException] { }
            catch { if ($_.Exception.InnerException -isnot [System.Net.Http.HttpRequestException]) { throw } }
            if ([DateTime]::UtcNow -gt $deadline) { throw "docker-registry did not answer on port $Port within 20 s." }
            Start-Sleep -Milliseconds 50
        }
    } finally { $probe.Dispose() }
    return $registry
}

function Stop-BenchRegistry($Registry) {
    if ($null -eq $Registry) { return }
    try {
        if (-not $Registry.Process.HasExited) {
            $Registry.Process.Kill()
            $Registry.Process.WaitForExit(10000) | Out-Null
        }
    } catch { Write-Warning "Could not stop the registry on port $($Registry.Port): $_" }
}

# Empties a registry: stops it, deletes its storage, starts it again on the same port.
function Reset-BenchRegistry($Registry) {
    Stop-BenchRegistry $Registry
    Remove-Item -Recurse -Force $Registry.Storage -ErrorAction SilentlyContinue
    return Start-BenchRegistry -Directory $Registry.Directory -Port $Registry.Port
}

#endregion

#region Fixtures

function Get-FileSha256([string] $Path) {
    $stream = [System.IO.File]::OpenRead($Path)
    try { return [Convert]::ToHexString([System.Security.Cryptography.SHA256]::HashData($stream)).ToLowerInvariant() }
    finally { $stream.Dispose() }
}

function Get-BytesSha256([byte[]] $Bytes) {
    return [Convert]::ToHexString([System.Security.Cryptography.SHA256]::HashData($Bytes)).ToLowerInvariant()
}

function Invoke-Bash([string] $Script, [string[]] $Arguments = @()) {
    & bash -c "set -euo pipefail; $Script" 'bench' @Arguments
    if ($LASTEXITCODE -ne 0) { throw "bash failed ($LASTEXITCODE): $Script" }
}

# A tar of real files of this machine: regular, readable files under $Roots (sorted by path) until $Bytes of content.
function New-FileTreeTar([string] $TarPath, [string[]] $Roots, [long] $Bytes) {
    $list = "$TarPath.list"
    Invoke-Bash @'
find "${@:3}" -xdev -type f -readable -size -48M -printf '%s\t%p\n' 2>/dev/null \
  | LC_ALL=C sort -t "$(printf '\t')" -k2 \
  | awk -F '\t' -v max="$2" '{ if (stop) next; s += $1; if (s > max) { stop = 1; next }; print $2 }' > "$1.list"
tar --create --file="$1" --no-recursion --verbatim-files-from --files-from="$1.list" \
    --owner=0 --group=0 --numeric-owner --ignore-failed-read 2>/dev/null || [ -s "$1" ]
'@ (@($TarPath, [string] $Bytes) + $Roots)
    Remove-Item $list -ErrorAction SilentlyContinue
}

# A tar holding one file of $Bytes random bytes (incompressible).
function New-RandomTar([string] $TarPath, [long] $Bytes) {
    $dir = "$TarPath.d"
    New-Item -ItemType Directory -Force -Path $dir | Out-Null
    Invoke-Bash 'head -c "$2" /dev/urandom > "$1/random.bin"; tar --create --file="$3" -C "$1" --owner=0 --group=0 --numeric-owner random.bin' @($dir, [string] $Bytes, $TarPath)
    Remove-Item -Recurse -Force $dir
}

# Gzips a tar into the layout's blobs; returns the layer's descriptor and diff_id. Random data is stored
# (what gzip -6 makes of it anyway: stored deflate blocks), real files are compressed at the default level.
function Add-LayerBlob([string] $Layout, [string] $TarPath, [switch] $Store) {
    $diffId = Get-FileSha256 $TarPath
    $tmp = Join-Path $Layout 'blobs/sha256/.layer.tmp'
    $in = [System.IO.File]::OpenRead($TarPath)
    $out = [System.IO.File]::Create($tmp)
    $level = if ($Store) { [System.IO.Compression.CompressionLevel]::NoCompression } else { [System.IO.Compression.CompressionLevel]::Optimal }
    $gz = [System.IO.Compression.GZipStream]::new($out, $level)
    try { $in.CopyTo($gz, 1MB) } finally { $gz.Dispose(); $in.Dispose() }
    $digest = Get-FileSha256 $tmp
    $final = Join-Path $Layout "blobs/sha256/$digest"
    Move-Item -Force $tmp $final
    return [pscustomobject]@{
        MediaType        = 'application/vnd.oci.image.layer.v1.tar+gzip'
        Digest           = "sha256:$digest"
        Size             = (Get-Item $final).Length
        DiffId           = "sha256:$diffId"
        UncompressedSize = (Get-Item $TarPath).Length
    }
}

function Add-JsonBlob([string] $Layout, [string] $Json) {
    $bytes = [System.Text.Encoding]::UTF8.GetBytes($Json)
    $digest = Get-BytesSha256 $bytes
    [System.IO.File]::WriteAllBytes((Join-Path $Layout "blobs/sha256/$digest"), $bytes)
    return [pscustomobject]@{ Digest = "sha256:$digest"; Size = $bytes.Length }
}

# Writes an OCI image layout with one image made of $Layers (from Add-LayerBlob), tagged $Tag.
function Complete-OciLayout([string] $Layout, [object[]] $Layers, [string] $Tag) {
    $config = [ordered]@{
        architecture = 'amd64'
        os           = 'linux'
        created      = '2024-01-01T00:00:00Z'
        config       = [ordered]@{ Env = @('PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'); Cmd = @('/bin/sh') }
        rootfs       = [ordered]@{ type = 'layers'; diff_ids = @($Layers | ForEach-Object DiffId) }
        history      = @($Layers | ForEach-Object { [ordered]@{ created = '2024-01-01T00:00:00Z'; created_by = 'moby-bench' } })
    } | ConvertTo-Json -Depth 10 -Compress
    $configBlob = Add-JsonBlob $Layout $config
    $manifest = [ordered]@{
        schemaVersion = 2
        mediaType     = 'application/vnd.oci.image.manifest.v1+json'
        config        = [ordered]@{ mediaType = 'application/vnd.oci.image.config.v1+json'; digest = $configBlob.Digest; size = $configBlob.Size }
        layers        = @($Layers | ForEach-Object { [ordered]@{ mediaType = $_.MediaType; digest = $_.Digest; size = $_.Size } })
    } | ConvertTo-Json -Depth 10 -Compress
    $manifestBlob = Add-JsonBlob $Layout $manifest
    Set-Content -Path (Join-Path $Layout 'oci-layout') -Value '{"imageLayoutVersion":"1.0.0"}' -NoNewline -Encoding utf8NoBOM
    $index = [ordered]@{
        schemaVersion = 2
        manifests     = @([ordered]@{
                mediaType   = 'application/vnd.oci.image.manifest.v1+json'
                digest      = $manifestBlob.Digest
                size        = $manifestBlob.Size
                annotations = @{ 'org.opencontainers.image.ref.name' = $Tag }
            })
    } | ConvertTo-Json -Depth 10 -Compress
    Set-Content -Path (Join-Path $Layout 'index.json') -Value $index -NoNewline -Encoding utf8NoBOM
    return $manifestBlob.Digest
}

function New-LayoutDirectory([string] $Layout) {
    if (Test-Path $Layout) { Remove-Item -Recurse -Force $Layout }
    New-Item -ItemType Directory -Force -Path (Join-Path $Layout 'blobs/sha256') | Out-Null
}

# An OCI layout of one image tagged $Tag: $Count layers, each a tar of one file of random (incompressible) bytes, stored
# gzip; their sizes step evenly from $MinBytes to $MaxBytes. Random bytes make every image built distinct.
function New-RandomLayerImage([string] $Layout, [int] $Count, [long] $MinBytes, [long] $MaxBytes, [string] $Tag) {
    New-LayoutDirectory $Layout
    $layers = @()
    for ($i = 0; $i -lt $Count; $i++) {
        $bytes = if ($Count -gt 1) { $MinBytes + [long] (($MaxBytes - $MinBytes) * $i / ($Count - 1)) } else { $MinBytes }
        $tar = Join-Path $Layout "layer$i.tar"
        New-RandomTar $tar $bytes
        $layers += Add-LayerBlob $Layout $tar -Store
        Remove-Item $tar
    }
    return [pscustomobject]@{ Digest = (Complete-OciLayout $Layout $layers $Tag); Layers = $layers }
}

#endregion

#region Latency proxies

# Starts bench/LatencyProxy.ps1 in a fresh pwsh: a FaultProxy in front of each registry, delaying every request by
# $LatencyMs. Returns the process and the proxies' host:port.
function Start-LatencyProxy([string[]] $PwshCommand, [string] $TestBedPath, [string] $SourceUrl, [string] $DestinationUrl, [int] $LatencyMs) {
    $psi = [System.Diagnostics.ProcessStartInfo]::new($PwshCommand[0])
    foreach ($a in @($PwshCommand | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive', '-File', (Join-Path $PSScriptRoot 'LatencyProxy.ps1'),
            '-TestBedPath', $TestBedPath, '-Source', $SourceUrl, '-Destination', $DestinationUrl, '-LatencyMs', [string] $LatencyMs)) { $psi.ArgumentList.Add($a) }
    $psi.UseShellExecute = $false
    $psi.RedirectStandardInput = $true
    $psi.RedirectStandardOutput = $true
    $process = [System.Diagnostics.Process]::Start($psi)
    $line = $process.StandardOutput.ReadLine()
    if (-not $line) { $process.WaitForExit(5000) | Out-Null; throw "bench/LatencyProxy.ps1 did not start (exit code $(if ($process.HasExited) { $process.ExitCode }))." }
    $ports = $line | ConvertFrom-Json
    return [pscustomobject]@{ Process = $process; Source = $ports.Source; Destination = $ports.Destination }
}

# The requests each proxy saw since the last call (see bench/LatencyProxy.ps1); their log lines go to $LogFile if given.
function Get-LatencyProxyCounts($Proxy, [string] $LogFile) {
    $Proxy.Process.StandardInput.WriteLine($(if ($LogFile) { "take $LogFile" } else { 'take' }))
    $Proxy.Process.StandardInput.Flush()
    $line = $Proxy.Process.StandardOutput.ReadLine()
    if (-not $line) { throw 'bench/LatencyProxy.ps1 exited.' }
    $answer = $line | ConvertFrom-Json
    if ($answer.PSObject.Properties['Error']) { throw "bench/LatencyProxy.ps1: $($answer.Error)" }
    return $answer
}

function Stop-LatencyProxy($Proxy) {
    if ($null -eq $Proxy) { return }
    try {
        if (-not $Proxy.Process.HasExited) {
            $Proxy.Process.StandardInput.WriteLine('quit')
            $Proxy.Process.StandardInput.Close()
            if (-not $Proxy.Process.WaitForExit(10000)) { $Proxy.Process.Kill() }
        }
    } catch { Write-Warning "Could not stop the latency proxies: $_" }
}

#endregion

#region Timing

# Starts a native command from this session and times it (wall clock, like Measure-Command); optionally samples its
# peak resident set (VmHWM) from /proc while it runs. Throws when it fails.
function Invoke-NativeTimed([string] $File, [string[]] $Arguments, [switch] $SampleMemory) {
    $psi = [System.Diagnostics.ProcessStartInfo]::new($File)
    foreach ($a in $Arguments) { $psi.ArgumentList.Add($a) }
    $psi.UseShellExecute = $false
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $sw = [System.Diagnostics.Stopwatch]::StartNew()
    $p = [System.Diagnostics.Process]::Start($psi)
    $stdout = $p.StandardOutput.ReadToEndAsync()
    $stderr = $p.StandardError.ReadToEndAsync()
    $peakKb = 0L
    if ($SampleMemory) {
        $status = "/proc/$($p.Id)/status"
        while (-not $p.WaitForExit(20)) {
            try {
                foreach ($line in [System.IO.File]::ReadAllLines($status)) {
                    if ($line.StartsWith('VmHWM:')) { $kb = [long] ($line -replace '[^0-9]', ''); if ($kb -gt $peakKb) { $peakKb = $kb } }
                }
            } catch { }
        }
    }
    $p.WaitForExit()
    $sw.Stop()
    $out = $stdout.GetAwaiter().GetResult()
    $err = $stderr.GetAwaiter().GetResult()
    if ($p.ExitCode -ne 0) { throw "$File $($Arguments -join ' ') failed ($($p.ExitCode)): $err" }
    return [pscustomobject]@{ Seconds = $sw.Elapsed.TotalSeconds; PeakKb = $peakKb; Output = $out }
}

function Get-Stats([double[]] $Values) {
    $sorted = @($Values | Sort-Object)
    $n = $sorted.Count
    $median = if ($n % 2) { $sorted[($n - 1) / 2] } else { ($sorted[$n / 2 - 1] + $sorted[$n / 2]) / 2 }
    return [pscustomobject]@{ Median = $median; Min = $sorted[0]; Max = $sorted[$n - 1]; Count = $n; Values = $Values }
}

#endregion

# Sync scenario: puts blobs and one OCI manifest per tag straight into a registry over HTTP (no client under test):
# the layers of $Layers once, then for each tag a config of its own (a label names the tag and $Revision) over those
# layers, so the tags are distinct manifests that share every layer. $Layout holds the layer blobs (an OCI layout).
function Publish-BenchBlob($Http, [string] $Registry, [string] $Repository, [byte[]] $Bytes) {
    $digest = 'sha256:' + (Get-BytesSha256 $Bytes)
    $post = $Http.PostAsync("http://$Registry/v2/$Repository/blobs/uploads/", [System.Net.Http.ByteArrayContent]::new([byte[]]::new(0))).GetAwaiter().GetResult()
    if ([int] $post.StatusCode -ne 202) { throw "POST upload answered $([int] $post.StatusCode)" }
    $location = [Uri]::new([Uri] "http://$Registry/", $post.Headers.Location.ToString()).AbsoluteUri
    $post.Dispose()
    $content = [System.Net.Http.ByteArrayContent]::new($Bytes)
    $content.Headers.ContentType = [System.Net.Http.Headers.MediaTypeHeaderValue]::new('application/octet-stream')
    $put = $Http.PutAsync($location + $(if ($location.Contains('?')) { '&' } else { '?' }) + "digest=$digest", $content).GetAwaiter().GetResult()
    if ([int] $put.StatusCode -ne 201) { throw "PUT blob answered $([int] $put.StatusCode)" }
    $put.Dispose()
    return [pscustomobject]@{ Digest = $digest; Size = $Bytes.Length }
}
function Publish-SyncTags([string] $Registry, [string] $Repository, [string] $Layout, [object[]] $Layers, [string[]] $Tags, [string] $Revision, [switch] $WithLayers) {
    $http = [System.Net.Http.HttpClient]::new()
    try {
        if ($WithLayers) {
            foreach ($l in $Layers) { Publish-BenchBlob $http $Registry $Repository ([System.IO.File]::ReadAllBytes((Join-Path $Layout ('blobs/sha256/' + $l.Digest.Substring(7))))) | Out-Null }
        }
        $digests = [ordered]@{}
        foreach ($tag in $Tags) {
            $config = [ordered]@{
                architecture = 'amd64'
                os           = 'linux'
                created      = '2024-01-01T00:00:00Z'
                config       = [ordered]@{ Cmd = @('/bin/sh'); Labels = [ordered]@{ 'bench.tag' = $tag; 'bench.revision' = $Revision } }
                rootfs       = [ordered]@{ type = 'layers'; diff_ids = @($Layers | ForEach-Object DiffId) }
            } | ConvertTo-Json -Depth 10 -Compress
            $configBlob = Publish-BenchBlob $http $Registry $Repository ([System.Text.Encoding]::UTF8.GetBytes($config))
            $manifest = [ordered]@{
                schemaVersion = 2
                mediaType     = 'application/vnd.oci.image.manifest.v1+json'
                config        = [ordered]@{ mediaType = 'application/vnd.oci.image.config.v1+json'; digest = $configBlob.Digest; size = $configBlob.Size }
                layers        = @($Layers | ForEach-Object { [ordered]@{ mediaType = $_.MediaType; digest = $_.Digest; size = $_.Size } })
            } | ConvertTo-Json -Depth 10 -Compress
            $bytes = [System.Text.Encoding]::UTF8.GetBytes($manifest)
            $content = [System.Net.Http.ByteArrayContent]::new($bytes)
            $content.Headers.ContentType = [System.Net.Http.Headers.MediaTypeHeaderValue]::new('application/vnd.oci.image.manifest.v1+json')
            $put = $http.PutAsync("http://$Registry/v2/$Repository/manifests/$tag", $content).GetAwaiter().GetResult()
            if ([int] $put.StatusCode -ne 201) { throw "PUT manifest $tag answered $([int] $put.StatusCode)" }
            $put.Dispose()
            $digests[$tag] = 'sha256:' + (Get-BytesSha256 $bytes)
        }
        return $digests
    } finally { $http.Dispose() }
}
