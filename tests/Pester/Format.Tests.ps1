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

    It 'keeps the table of a descriptor short: a kind, a shortened digest and a human size' {
        $descriptor = [MobyDistribution.Descriptor]::new('application/vnd.oci.image.layer.v1.tar+gzip', $Digest, 2048)
        $text = $descriptor | Format-Table | Out-String -Width 200
        $text | Should -Match 'layer \(gzip\)\s+sha256:0123456789ab\s+2\.0 KiB'
    }

    It 'names media types in a word or two, and keeps any other type whole but for the shared prefix' {
        [MobyDistribution.PowerShell.DisplayFormat]::Kind('application/vnd.oci.image.index.v1+json') | Should -Be 'OCI index'
        [MobyDistribution.PowerShell.DisplayFormat]::Kind('application/vnd.docker.distribution.manifest.v2+json') | Should -Be 'Docker image'
        [MobyDistribution.PowerShell.DisplayFormat]::Kind('application/vnd.docker.image.rootfs.diff.tar.gzip') | Should -Be 'layer (gzip)'
        [MobyDistribution.PowerShell.DisplayFormat]::Kind('application/vnd.cncf.helm.config.v1+json') | Should -Be 'cncf.helm.config.v1+json'
        [MobyDistribution.PowerShell.DisplayFormat]::Kind($null) | Should -Be ''
    }

    It 'shows sizes under 1 KiB in bytes only' {
        [MobyDistribution.PowerShell.DisplayFormat]::SizeAndBytes([long] 577) | Should -Be '577 bytes'
        [MobyDistribution.PowerShell.DisplayFormat]::SizeAndBytes([long] 13748) | Should -Be ('{0} ({1} bytes)' -f [MobyDistribution.PowerShell.DisplayFormat]::Size([long] 13748), (13748).ToString('N0'))
        [MobyDistribution.PowerShell.DisplayFormat]::SizeAndBytes($null) | Should -Be ''
    }
}

# Pipeline logs and non-interactive hosts have no wide console: every table must read at 80 columns. Real objects from the
# test bed's registry, rendered as the default output would render them.
Describe 'Views at 80 and 120 columns' {
    BeforeAll {
        $script:TestBed = Start-MobyTestBed
        $script:Image = New-MobyFixture -Layers 2 -Seed 31
        $script:IndexImage = New-MobyFixture -Layers 1 -Seed 32 -Index
        $anonymous = $TestBed.Anonymous
        $registry = $anonymous.HostPort
        Publish-MobyFixture $Image $anonymous 'format/some-application' 'v1.2.3-alpine3.20' | Out-Null
        Publish-MobyFixture $IndexImage $anonymous 'format/multi-arch' 'latest' | Out-Null
        $dir = New-MobyTempDirectory
        $file = Join-Path $dir 'file.bin'
        [IO.File]::WriteAllBytes($file, [byte[]] (1..250))
        $tar = Join-Path $dir 'image.tar'
        Export-DockerImage "$registry/format/some-application:v1.2.3-alpine3.20" -Path $tar | Out-Null
        $script:Objects = @{
            TagListed = @(Get-RegistryTag "$registry/format/some-application")
            Tag = Get-RegistryTag "$registry/format/some-application" -Name 'v1.2.3-alpine3.20'
            Repository = @(Get-RegistryCatalog $registry)
            PublishedBlob = Publish-ImageBlob -Repository "$registry/format/blobs" -Path $file
            CopiedImage = Copy-RegistryImage "$registry/format/some-application:v1.2.3-alpine3.20" "$registry/format/copy-of-the-application:v1.2.3-alpine3.20"
            Session = Get-RegistrySession -Registry $registry
            Descriptor = Get-ImageManifest "$registry/format/some-application:v1.2.3-alpine3.20" -Descriptor
            ImageManifest = Get-ImageManifest "$registry/format/some-application:v1.2.3-alpine3.20"
            ImageIndex = Get-ImageManifest "$registry/format/multi-arch:latest"
            ImageLayerResult = Add-ImageLayer "$registry/format/some-application:v1.2.3-alpine3.20" -Path $file -Destination "$registry/format/with-a-layer:v2"
            ImportedImage = Import-DockerImage -Path $tar -Destination "$registry/format/imported:v1"
        }

        # The labels of the table view PowerShell picks for an object: the first of its type names that has one.
        function Get-TableLabels($InputObject) {
            foreach ($name in $InputObject.PSObject.TypeNames) {
                $data = Get-FormatData -TypeName $name -PowerShellVersion $PSVersionTable.PSVersion
                if (-not $data) { continue }
                $table = $data.FormatViewDefinition | Where-Object { $_.Control -is [System.Management.Automation.TableControl] } | Select-Object -First 1
                if ($table) { return @($table.Control.Headers | ForEach-Object Label) }
            }
            throw "No table view for $($InputObject.PSObject.TypeNames[0])."
        }
    }

    AfterAll {
        Remove-MobyTempDirectory
        Get-RegistrySession | Where-Object Registry -in $TestBed.All.HostPort | Disconnect-Registry
        $TestBed.Dispose()
        $Image.Dispose()
        $IndexImage.Dispose()
    }

    It '<Name> fits <Width> columns with every header word whole' -ForEach @(
        foreach ($name in 'TagListed', 'Tag', 'Repository', 'PublishedBlob', 'CopiedImage', 'Session', 'Descriptor', 'ImageManifest',
            'ImageIndex', 'ImageLayerResult', 'ImportedImage') {
            foreach ($width in 80, 120) { @{ Name = $name; Width = $width } }
        }) {
        $objects = $Objects[$Name]
        $objects | Should -Not -BeNullOrEmpty
        $labels = Get-TableLabels $objects[0]
        $lines = ($objects | Out-String -Width $Width) -split '\r?\n'
        foreach ($line in $lines) { $line.Length | Should -BeLessOrEqual $Width -Because "'$line' is a line of the table" }
        $rules = @(for ($i = 1; $i -lt $lines.Count; $i++) { if ($lines[$i] -match '^ *-[- ]*$') { $i } })
        $rules | Should -Not -BeNullOrEmpty -Because 'the default view is a table'
        foreach ($rule in $rules) {
            # One header line, right above the dashes, holding every label whole; above it a blank line or a group header.
            -split $lines[$rule - 1] | Should -Be $labels
            @(-split $lines[$rule]).Count | Should -Be $labels.Count
            if ($rule -ge 2) { $lines[$rule - 2] | Should -Match '^(\s*|\s+\w+: .*)$' }
        }
        # The list view wraps long values but never goes past the width either.
        foreach ($line in (($objects | Format-List | Out-String -Width $Width) -split '\r?\n')) { $line.Length | Should -BeLessOrEqual $Width }
    }

    It 'lists plain tags by name only: no empty digest, type or size columns' {
        $text = $Objects.TagListed | Out-String -Width 80
        $text | Should -Match '(?m)^Registry\s+Repository\s+Tag\s*$'
        $text | Should -Match 'format/some-application\s+v1\.2\.3-alpine3\.20'
        $text | Should -Not -Match 'Digest|Size'
        ($Objects.TagListed | Format-List | Out-String) | Should -Not -Match 'Digest|MediaType'
    }

    It 'shows a tag asked for by name with its short digest, kind and size under its repository' {
        $text = $Objects.Tag | Out-String -Width 80
        $text | Should -Match "Repository: $([regex]::Escape($TestBed.Anonymous.HostPort))/format/some-application"
        $text | Should -Match ('sha256:{0}\s+OCI image\s+\d+ B\s+v1\.2\.3-alpine3\.20' -f $Objects.Tag.Digest.Short)
    }

    It 'keeps the raw text, artifact type and subject of an index out of its default view' {
        foreach ($width in 80, 120) {
            $text = $Objects.ImageIndex | Out-String -Width $width
            $text | Should -Not -Match 'schemaVersion|RawText|ArtifactType|Subject|\{'
            $text | Should -Match 'OCI index\s+2 manifests: linux/amd64, linux/arm64/v8'
        }
    }
}
