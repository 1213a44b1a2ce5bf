@{
    RootModule           = 'MobyDistribution.PowerShell.dll'
    # Stamped by build.ps1 from Directory.Build.props, the one place the version lives.
    ModuleVersion        = '0.0.0'
    GUID                 = 'd4d25ebd-a0b2-4bad-9c14-435d2d905ffa'
    Author               = 'MobyDistribution contributors'
    CompanyName          = 'MobyDistribution contributors'
    Copyright            = '(c) MobyDistribution contributors.'
    Description          = 'Work with Docker and OCI registries from PowerShell: connect with credentials, list repositories and tags, get, push and delete manifests, and download, upload and delete blobs, with digests verified end to end.'
    CompatiblePSEditions = @('Desktop', 'Core')
    PowerShellVersion    = '5.1'
    FormatsToProcess     = @('MobyDistribution.format.ps1xml')
    CmdletsToExport      = @(
        'Connect-Registry'
        'Disconnect-Registry'
        'Get-RegistrySession'
        'Get-RegistryCatalog'
        'Copy-RegistryImage'
        'Export-DockerImage'
        'Import-DockerImage'
        'Add-ImageLayer'
        'Get-RegistryTag'
        'Remove-RegistryTag'
        'Get-ImageManifest'
        'Publish-ImageManifest'
        'Remove-ImageManifest'
        'Save-ImageBlob'
        'Publish-ImageBlob'
        'Remove-ImageBlob'
    )
    FunctionsToExport    = @()
    AliasesToExport      = @()
    VariablesToExport    = @()
    PrivateData          = @{
        PSData = @{
            Tags         = @('Docker', 'OCI', 'Registry', 'Container', 'Image', 'Manifest', 'Distribution', 'PSEdition_Desktop', 'PSEdition_Core', 'Windows', 'Linux', 'MacOS')
            ProjectUri   = 'https://github.com/MobyDistribution/MobyDistribution'
            LicenseUri   = 'https://github.com/MobyDistribution/MobyDistribution/blob/main/LICENSE'
            ReleaseNotes = 'First release: registry sessions, catalog, tags, manifests (get, publish, remove) and blobs (save, publish, remove).'
        }
    }
}
