<#
.SYNOPSIS
    The main job on an embedded default: a throwaway local registry, an image built into it, and the module at work.
.DESCRIPTION
    Starts Debian's docker-registry on a free loopback port with a temporary storage folder, builds a small image
    from files of this demo (Add-ImageLayer onto scratch), then lists tags, reads the manifest, downloads the config,
    copies the image to another repository (a mount: nothing transferred) and exports it as a docker-save tarball.
    Everything is removed at the end.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $ModulePath
)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath -Force

function Get-FreePort {
    $listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
    $listener.Start()
    try { return $listener.LocalEndpoint.Port } finally { $listener.Stop() }
}

$work = Join-Path ([System.IO.Path]::GetTempPath()) ("moby-demo-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
New-Item -ItemType Directory -Path $work | Out-Null
$port = Get-FreePort
$registry = "127.0.0.1:$port"
@"
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage:
  filesystem: {rootdirectory: $work/storage}
  delete: {enabled: true}
http:
  addr: $registry
  secret: demo-secret
"@ | Set-Content (Join-Path $work 'config.yml')

$process = Start-Process -FilePath 'docker-registry' -ArgumentList 'serve', (Join-Path $work 'config.yml') -PassThru `
    -RedirectStandardOutput (Join-Path $work 'registry.out') -RedirectStandardError (Join-Path $work 'registry.err')
try {
    $deadline = [DateTime]::UtcNow.AddSeconds(20)
    while ($true) {
        try { $null = Invoke-WebRequest "http://$registry/v2/" -UseBasicParsing -TimeoutSec 2; break }
        catch { if ([DateTime]::UtcNow -gt $deadline) { throw "docker-registry did not start: $(Get-Content (Join-Path $work 'registry.err') -Raw)" }; Start-Sleep -Milliseconds 100 }
    }
    Write-Host "== A throwaway registry answers at http://$registry" -ForegroundColor Cyan

    # Some content for a layer: a few files of this machine's own.
    $content = Join-Path $work 'rootfs'
    New-Item -ItemType Directory -Path (Join-Path $content 'etc'), (Join-Path $content 'app') | Out-Null
    'Hello from MobyDistribution' | Set-Content (Join-Path $content 'app/hello.txt')
    Copy-Item /etc/os-release (Join-Path $content 'etc/os-release')

    Write-Host "`n== Add-ImageLayer: build $registry/demo/hello:v1 from scratch plus one layer" -ForegroundColor Cyan
    $built = Add-ImageLayer -Reference scratch -Path $content -Destination "$registry/demo/hello:v1" `
        -Label @{ 'org.opencontainers.image.title' = 'hello' } -Command '/bin/cat', '/app/hello.txt'
    $built | Format-List

    Write-Host "`n== Get-RegistryCatalog | Get-RegistryTag" -ForegroundColor Cyan
    Get-RegistryCatalog $registry | Get-RegistryTag | Format-Table

    Write-Host "`n== Get-ImageManifest" -ForegroundColor Cyan
    $manifest = Get-ImageManifest "$registry/demo/hello:v1"
    $manifest | Format-List Reference, MediaType, Digest, Size
    $manifest.Layers | Format-Table

    Write-Host "`n== Save-ImageBlob: the config and layer, verified against their digests" -ForegroundColor Cyan
    $blobs = Join-Path $work 'blobs'
    New-Item -ItemType Directory -Path $blobs | Out-Null
    $manifest | Save-ImageBlob -Path $blobs -PassThru | Format-Table Name, Length

    Write-Host "`n== Copy-RegistryImage to another repository (a mount: no bytes move)" -ForegroundColor Cyan
    Copy-RegistryImage -Source "$registry/demo/hello:v1" -Destination "$registry/demo/copy:v1" | Format-List

    Write-Host "`n== Export-DockerImage: a tarball 'docker load' accepts" -ForegroundColor Cyan
    $tar = Join-Path $work 'hello.tar'
    Export-DockerImage -Reference "$registry/demo/hello:v1" -Path $tar
    Get-Item $tar | Format-Table Name, Length

    Write-Host @"

To use a real registry:
    Connect-Registry -Registry registry.example.com -Credential (Get-Credential)
    Get-RegistryTag registry.example.com/team/app
    Copy-RegistryImage -Source docker.io/library/alpine:3.20 -Destination registry.example.com/mirror/alpine:3.20
Without Connect-Registry, credentials come from Docker's config.json (and its credential helpers), else access is anonymous.
"@
}
finally {
    if (-not $process.HasExited) { $process.Kill() ; $process.WaitForExit() }
    Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue
}
