#Requires -Version 7.0
# The built module as a user gets it: manifest, exports, formats, and a clean import in a fresh pwsh -NoProfile.

BeforeDiscovery {
    # Every cmdlet the manifest exports gets the per-cmdlet checks, those of later issues too.
    $Exported = (Import-PowerShellDataFile (Join-Path $PSScriptRoot '../../MobyDistribution.psd1')).CmdletsToExport | Sort-Object
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-MobyModule
    $script:ModulePath = Get-MobyModulePath
    $script:Exported = (Import-PowerShellDataFile -Path $ModulePath).CmdletsToExport | Sort-Object
    # The registry cmdlets (issue 3); other cmdlets may join them.
    $script:RegistryCmdlets = @(
        'Connect-Registry', 'Disconnect-Registry', 'Get-ImageManifest', 'Get-RegistryCatalog', 'Get-RegistrySession',
        'Get-RegistryTag', 'Publish-ImageBlob', 'Publish-ImageManifest', 'Remove-ImageBlob', 'Remove-ImageManifest',
        'Remove-RegistryTag', 'Save-ImageBlob')
}

Describe 'The module manifest' {
    It 'is valid and names what it exports explicitly' {
        $manifest = Test-ModuleManifest -Path $ModulePath -ErrorAction Stop
        $manifest.RootModule | Should -Be 'MobyDistribution.PowerShell.dll'
        $manifest.CompatiblePSEditions | Should -Be @('Desktop', 'Core')
        $manifest.PowerShellVersion | Should -Be ([version] '5.1')
        $data = Import-PowerShellDataFile -Path $ModulePath
        $data.CmdletsToExport | Should -Not -Contain '*'
        foreach ($name in $RegistryCmdlets) { $data.CmdletsToExport | Should -Contain $name }
        $data.FunctionsToExport.Count | Should -Be 0
        $data.AliasesToExport.Count | Should -Be 0
        $data.VariablesToExport.Count | Should -Be 0
        $data.PrivateData.PSData.Tags | Should -Contain 'OCI'
    }

    It 'carries the version of Directory.Build.props' {
        [xml] $props = Get-Content (Join-Path $MobyRepoRoot 'Directory.Build.props') -Raw
        $version = ($props.Project.PropertyGroup | Where-Object { $_['Version'] } | Select-Object -First 1).Version
        (Import-PowerShellDataFile -Path $ModulePath).ModuleVersion | Should -Be $version
    }

    It 'exports every cmdlet the assembly defines' {
        $defined = [MobyDistribution.PowerShell.Commands.RegistryCmdletBase].Assembly.GetTypes() |
            ForEach-Object { $_.GetCustomAttributes([System.Management.Automation.CmdletAttribute], $false) } |
            ForEach-Object { "$($_.VerbName)-$($_.NounName)" } | Sort-Object
        $defined | Should -Be $Exported
    }

    It 'ships no copy of System.Management.Automation' {
        Join-Path (Split-Path $ModulePath) 'System.Management.Automation.dll' | Should -Not -Exist
    }
}

Describe 'Importing the module in a fresh pwsh -NoProfile' {
    It 'exports exactly the cmdlets the manifest names and loads the formats' {
        $command = Get-MobyPwshCommand
        $script = "`$ErrorActionPreference = 'Stop'; Import-Module '$ModulePath'; " +
            "@{ Cmdlets = @(Get-Command -Module MobyDistribution | ForEach-Object Name | Sort-Object); " +
            "Views = @((Get-FormatData -TypeName 'MobyDistribution.Descriptor').FormatViewDefinition.Name); " +
            "Edition = `$PSVersionTable.PSEdition } | ConvertTo-Json -Compress"
        $arguments = @($command | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive', '-Command', $script)
        $output = & $command[0] @arguments 2>&1
        $LASTEXITCODE | Should -Be 0 -Because ($output -join "`n")
        $result = ($output -join "`n") | ConvertFrom-Json
        $result.Cmdlets | Should -Be $Exported
        $result.Views | Should -Contain 'Descriptor'
    }
}

Describe 'The cmdlets' {
    It '<Name> declares its output type' -ForEach ($Exported | ForEach-Object { @{ Name = $_ } }) {
        (Get-Command $Name).OutputType | Should -Not -BeNullOrEmpty
    }

    It '<Name> supports -WhatIf and -Confirm' -ForEach @(
        @{ Name = 'Publish-ImageManifest' }, @{ Name = 'Remove-ImageManifest' }, @{ Name = 'Remove-RegistryTag' },
        @{ Name = 'Save-ImageBlob' }, @{ Name = 'Publish-ImageBlob' }, @{ Name = 'Remove-ImageBlob' }) {
        (Get-Command $Name).Parameters.Keys | Should -Contain 'WhatIf'
        (Get-Command $Name).Parameters.Keys | Should -Contain 'Confirm'
    }

    It '<Name> asks for confirmation by default (ConfirmImpact High)' -ForEach @(
        @{ Name = 'Remove-ImageManifest' }, @{ Name = 'Remove-RegistryTag' }, @{ Name = 'Remove-ImageBlob' }) {
        $attribute = (Get-Command $Name).ImplementingType.GetCustomAttributes([System.Management.Automation.CmdletAttribute], $false)[0]
        $attribute.ConfirmImpact | Should -Be 'High'
    }

    It 'binds a reference string through ImageReference.Parse' {
        $command = Get-Command Get-ImageManifest
        $command.Parameters['Reference'].ParameterType | Should -Be ([MobyDistribution.ImageReference[]])
        { Get-ImageManifest -Reference 'Not A Reference!' -ErrorAction Stop } |
            Should -Throw -ErrorId 'ParameterArgumentTransformationError,MobyDistribution.PowerShell.Commands.GetImageManifestCommand'
    }

    It 'formats sizes, digests and media types for the screen' {
        [MobyDistribution.PowerShell.DisplayFormat]::Size([long] 512) | Should -Be '512 B'
        [MobyDistribution.PowerShell.DisplayFormat]::Size($null) | Should -Be ''
        [MobyDistribution.PowerShell.DisplayFormat]::MediaType('application/vnd.oci.image.layer.v1.tar+gzip') | Should -Be 'oci.image.layer.v1.tar+gzip'
        $digest = [MobyDistribution.Digest]::Parse('sha256:' + ('ab' * 32))
        [MobyDistribution.PowerShell.DisplayFormat]::Digest($digest) | Should -Be 'sha256:abababababab'
    }
}

Describe 'The source tree' {
    It 'has no merge conflict markers left in any tracked text file' {
        # Merges of parallel work are routine here; a marker left in a help page or a script would ship.
        $files = @(git -C $MobyRepoRoot ls-files -- '*.cs' '*.ps1' '*.psd1' '*.md' '*.txt' '*.yml' '*.ps1xml' '*.csproj' '*.sh' '*.props')
        $files.Count | Should -BeGreaterThan 50
        $marked = foreach ($file in $files) {
            $path = Join-Path $MobyRepoRoot $file
            if ((Test-Path $path) -and (Select-String -Path $path -Pattern '^(<{7}|>{7}) ' -Quiet)) { $file }
        }
        $marked | Should -BeNullOrEmpty
    }
}
