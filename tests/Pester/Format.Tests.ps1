#Requires -Version 7.0
# Views of the module's objects: a table and a list view for every type a cmdlet writes, and list views that show the
# detail (full digests, sizes in human units and bytes, platform, creation time where known).

BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-MobyModule
    # Every type an exported cmdlet declares, other than .NET's own (FileInfo, string), which PowerShell formats.
    $OutputTypes = @(Get-Command -Module MobyDistribution | ForEach-Object { $_.OutputType.Type } |
        Where-Object { $_ -and $_.Namespace -notlike 'System*' } | Sort-Object FullName -Unique | ForEach-Object { @{ Type = $_.FullName } })
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-MobyModule
    $script:Digest = [MobyDistribution.Digest]::Parse('sha256:' + ('0123456789abcdef' * 4))
}

Describe 'Views' {
    It '<Type> has a table view and a list view' -ForEach $OutputTypes {
        $controls = (Get-FormatData -TypeName $Type).FormatViewDefinition | ForEach-Object { $_.Control.GetType().Name }
        $controls | Should -Contain 'TableControl'
        $controls | Should -Contain 'ListControl'
    }

    It 'lists a descriptor with its full digest, size in units and bytes, platform and creation time' {
        $descriptor = [MobyDistribution.Descriptor]::new('application/vnd.oci.image.manifest.v1+json', $Digest, 1234567)
        $descriptor.Platform = [MobyDistribution.Platform]::Parse('linux/arm64/v8')
        $descriptor.Annotations = [System.Collections.Generic.Dictionary[string, string]]::new()
        $descriptor.Annotations['org.opencontainers.image.created'] = '2024-05-01T12:30:00Z'
        $text = $descriptor | Format-List | Out-String -Width 200
        $text | Should -Match "Digest\s+: $Digest"
        $text | Should -Match 'Size\s+: 1\.2 MiB \(1,234,567 bytes\)'
        $text | Should -Match 'Platform\s+: linux/arm64/v8'
        $text | Should -Match 'Created\s+: .*2024'
        $text | Should -Match 'org\.opencontainers\.image\.created = 2024-05-01T12:30:00Z'
    }

    It 'keeps the table of a descriptor short: a shortened digest and a human size' {
        $descriptor = [MobyDistribution.Descriptor]::new('application/vnd.oci.image.layer.v1.tar+gzip', $Digest, 2048)
        $text = $descriptor | Format-Table | Out-String -Width 200
        $text | Should -Match 'oci\.image\.layer\.v1\.tar\+gzip\s+sha256:0123456789ab\s+2\.0 KiB\s+2,048'
    }

    It 'shows sizes under 1 KiB in bytes only' {
        [MobyDistribution.PowerShell.DisplayFormat]::SizeAndBytes([long] 577) | Should -Be '577 bytes'
        [MobyDistribution.PowerShell.DisplayFormat]::SizeAndBytes([long] 13748) | Should -Be ('{0} ({1} bytes)' -f [MobyDistribution.PowerShell.DisplayFormat]::Size([long] 13748), (13748).ToString('N0'))
        [MobyDistribution.PowerShell.DisplayFormat]::SizeAndBytes($null) | Should -Be ''
    }
}
