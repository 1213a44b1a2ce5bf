@{
    RootModule           = 'MobyDistribution.PowerShell.dll'
    # Stamped by build.ps1 from Directory.Build.props, the one place the version lives.
    ModuleVersion        = '0.0.0'
    GUID                 = 'd4d25ebd-a0b2-4bad-9c14-435d2d905ffa'
    Author               = 'MobyDistribution contributors'
    CompanyName          = 'MobyDistribution contributors'
    Copyright            = '(c) MobyDistribution contributors.'
    Description          = 'Work with Docker and OCI registries from PowerShell, without a Docker daemon: connect with credentials, list repositories and tags, get, push and delete manifests and blobs, copy images between registries keeping their digests, export images as docker save tarballs or OCI layouts, import tarballs, and build images by adding layers. Typed objects, tab completion, full help; digests verified end to end.'
    CompatiblePSEditions = @('Desktop', 'Core')
    PowerShellVersion    = '5.1'
    # Windows PowerShell 5.1 runs on what Windows has: netstandard2.0 DLLs need .NET Framework 4.7.1 or later, and
    # HttpClientHandler's SslProtocols and MaxConnectionsPerServer (docs/windows-powershell.md) work from 4.7.2 on.
    DotNetFrameworkVersion = '4.7.2'
    FormatsToProcess     = @('MobyDistribution.format.ps1xml')
    CmdletsToExport      = @(
        'Connect-Registry'
        'Disconnect-Registry'
        'Get-RegistrySession'
        'Get-RegistryCatalog'
        'Copy-RegistryImage'
        'Sync-RegistryRepository'
        'Export-DockerImage'
        'Import-DockerImage'
        'Add-ImageLayer'
        'New-ImageIndex'
        'Get-ImageConfig'
        'Set-ImageConfig'
        'Get-RegistryTag'
        'Remove-RegistryTag'
        'Get-ImageManifest'
        'Publish-ImageManifest'
        'Remove-ImageManifest'
        'Save-ImageBlob'
        'Publish-ImageBlob'
        'Remove-ImageBlob'
        'Get-ImageReferrer'
        'Publish-ImageArtifact'
        'Save-ImageArtifact'
    )
    FunctionsToExport    = @()
    AliasesToExport      = @()
    VariablesToExport    = @()
    PrivateData          = @{
        PSData = @{
            Tags         = @('Docker', 'OCI', 'Registry', 'ContainerRegistry', 'Container', 'Image', 'Manifest', 'Distribution', 'DevOps', 'PSEdition_Desktop', 'PSEdition_Core', 'Windows', 'Linux', 'MacOS')
            ProjectUri   = 'https://github.com/MobyDistribution/MobyDistribution'
            LicenseUri   = 'https://github.com/MobyDistribution/MobyDistribution/blob/main/LICENSE'
            ReleaseNotes = 'First release. Registry sessions (Connect-Registry with credentials, Docker config and credential helpers, TLS options); catalog and tags; manifests and blobs (get, publish, remove, verified downloads); Copy-RegistryImage (digest-preserving, mount/skip/stream plan shown by -WhatIf, platform subsets); Export-DockerImage (docker save tar or OCI layout), Import-DockerImage and Add-ImageLayer. Full help (Get-Help, about_MobyDistribution), tab completion of registries, repositories and tags, table and list views.'
        }
    }
}
