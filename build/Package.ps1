<#
.SYNOPSIS
    Packs the laid-out module into a .nupkg that Install-PSResource (and Install-Module) installs from a feed.
.DESCRIPTION
    build.ps1 -Task Package calls this after the Build task. The package is made by PSResourceGet's
    Compress-PSResource (PSResourceGet 1.1 or later; PowerShell 7.4 and later ship it), from the manifest that build.ps1
    stamped with the version of Directory.Build.props, so its id, version, description, tags, project and licence URIs
    and release notes are the manifest's. Nothing is published: push the .nupkg to a feed with Publish-PSResource
    -NupkgPath, or copy it into a folder registered as a repository.

    A package is a release, so it is refused when an exported cmdlet has no help in the module's MAML file.
.EXAMPLE
    dotnet pwsh ./build.ps1 -Task Package
#>
[CmdletBinding()]
[OutputType([System.IO.FileInfo])]
param(
    # The module as build.ps1 laid it out (the folder holding MobyDistribution.psd1).
    [Parameter(Mandatory)]
    [string] $ModuleDirectory,
    # Where the .nupkg goes.
    [Parameter(Mandatory)]
    [string] $OutputDirectory
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$manifestPath = Join-Path $ModuleDirectory 'MobyDistribution.psd1'
$manifest = Import-PowerShellDataFile $manifestPath
$version = $manifest.ModuleVersion

$maml = Join-Path $ModuleDirectory 'en-US/MobyDistribution.PowerShell.dll-Help.xml'
$documented = if (Test-Path $maml) { ([xml] (Get-Content $maml -Raw)).helpItems.command.details.name } else { @() }
$undocumented = @($manifest.CmdletsToExport | Where-Object { $_ -notin $documented })
if ($undocumented) { throw "Not packaging $version`: no help for $($undocumented -join ', ') (write docs/cmdlets/<name>.md)." }

$compress = Get-Command Compress-PSResource -ErrorAction SilentlyContinue
if (-not $compress) {
    throw 'Compress-PSResource was not found: packaging needs Microsoft.PowerShell.PSResourceGet 1.1 or later (Install-PSResource Microsoft.PowerShell.PSResourceGet, or PowerShell 7.4+).'
}
if (-not (Test-Path $OutputDirectory)) { New-Item -ItemType Directory -Path $OutputDirectory | Out-Null }
$target = Join-Path $OutputDirectory "MobyDistribution.$version.nupkg"
if (Test-Path $target) { Remove-Item $target -Force }

# Compress-PSResource names the package after the folder, so it packs a folder named as the module.
$staging = Join-Path ([IO.Path]::GetTempPath()) ('moby-package-' + [guid]::NewGuid().ToString('N').Substring(0, 12))
try {
    $folder = Join-Path $staging 'MobyDistribution'
    New-Item -ItemType Directory -Path $folder -Force | Out-Null
    Copy-Item (Join-Path $ModuleDirectory '*') $folder -Recurse
    Compress-PSResource -Path $folder -DestinationPath $OutputDirectory
} finally {
    Remove-Item $staging -Recurse -Force -ErrorAction SilentlyContinue
}
$package = Get-Item $target -ErrorAction SilentlyContinue
if (-not $package) { throw "Compress-PSResource did not write $target." }
Write-Host "Package $($package.Name) written to $OutputDirectory ($([Math]::Round($package.Length / 1MB, 1)) MB)"
$package
