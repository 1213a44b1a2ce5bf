#Requires -Version 7.0
# Export-DockerImage, Import-DockerImage and Add-ImageLayer against real registries, checked with skopeo.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-MobyModule
    $script:TestBed = Start-MobyTestBed
    $script:Image = New-MobyFixture -Layers 2 -Seed 71
    $script:Index = New-MobyFixture -Layers 1 -Seed 72 -Index
    $script:Reg = $TestBed.Anonymous.HostPort
    $script:Basic = $TestBed.Basic
    $script:ImageDigest = Publish-MobyFixture $Image $TestBed.Anonymous 'ops/app' 'v1'
    Publish-MobyFixture $Index $TestBed.Anonymous 'ops/multi' 'all' | Out-Null
    Connect-MobyTestRegistry $Basic | Out-Null

    function Invoke-Skopeo {
        $r = [MobyDistribution.TestBed.Skopeo]::Run([string[]] $args)
        $r.StandardOutput
    }

    # The entries (name, type, text) of the last layer of an image, as skopeo copies it into an OCI layout.
    function Get-LastLayerEntry([string] $Reference) {
        $dir = Join-Path (New-MobyTempDirectory) 'oci'
        Invoke-Skopeo copy --src-tls-verify=false "docker://$Reference" "oci:${dir}:x" | Out-Null
        $index = Get-Content -Raw (Join-Path $dir 'index.json') | ConvertFrom-Json
        $blob = { param($d) Join-Path $dir "blobs/sha256/$($d.Substring(7))" }
        $manifest = Get-Content -Raw (& $blob $index.manifests[0].digest) | ConvertFrom-Json
        $file = [IO.File]::OpenRead((& $blob $manifest.layers[-1].digest))
        try {
            $gunzip = [IO.Compression.GZipStream]::new($file, [IO.Compression.CompressionMode]::Decompress)
            $reader = [System.Formats.Tar.TarReader]::new($gunzip)
            while ($null -ne ($entry = $reader.GetNextEntry())) {
                $text = if ($entry.DataStream) { [IO.StreamReader]::new($entry.DataStream).ReadToEnd() }
                [pscustomobject]@{ Name = $entry.Name; Type = "$($entry.EntryType)"; Text = $text; Mode = $entry.Mode }
            }
        } finally { $file.Dispose() }
    }

    function Get-PushedConfig([string] $Reference) {
        Invoke-Skopeo inspect --config --raw --tls-verify=false "docker://$Reference" | ConvertFrom-Json
    }

    function New-TarFile([string] $Path, [hashtable] $Entries) {
        $stream = [IO.File]::Create($Path)
        try {
            $writer = [System.Formats.Tar.TarWriter]::new($stream, [System.Formats.Tar.TarEntryFormat]::Pax, $false)
            foreach ($name in $Entries.Keys) {
                $entry = [System.Formats.Tar.PaxTarEntry]::new([System.Formats.Tar.TarEntryType]::RegularFile, $name)
                $entry.DataStream = [IO.MemoryStream]::new([Text.Encoding]::UTF8.GetBytes($Entries[$name]))
                $writer.WriteEntry($entry)
            }
            $writer.Dispose()
        } finally { $stream.Dispose() }
    }
}

AfterAll {
    Get-RegistrySession | ForEach-Object { Disconnect-Registry -Registry $_.Registry }
    Remove-MobyTempDirectory
    $TestBed.Dispose()
    $Image.Dispose()
    $Index.Dispose()
}

Describe 'Export-DockerImage' {
    It 'writes a docker save tar that skopeo reads, with the layers the config names' {
        $dir = New-MobyTempDirectory
        $tar = Join-Path $dir 'app.tar'
        $file = Export-DockerImage -Reference "$Reg/ops/app:v1" -Path $tar -PassThru
        $file | Should -BeOfType ([IO.FileInfo])
        $file.FullName | Should -Be $tar
        $oci = Join-Path $dir 'oci'
        Invoke-Skopeo copy --insecure-policy "docker-archive:${tar}:$Reg/ops/app:v1" "oci:${oci}:back" | Out-Null
        $config = Invoke-Skopeo inspect --config --raw "oci:${oci}:back" | ConvertFrom-Json
        $config.rootfs.diff_ids | Should -Be $Image.DiffIds
        Get-ChildItem $dir -Force -Filter '*.partial' | Should -BeNullOrEmpty
    }

    It 'refuses to overwrite without -Force, and replaces with it' {
        $tar = Join-Path (New-MobyTempDirectory) 'exists.tar'
        'keep me' | Set-Content $tar
        Export-DockerImage "$Reg/ops/app:v1" $tar -ErrorVariable failed -ErrorAction SilentlyContinue
        $failed[0].FullyQualifiedErrorId | Should -BeLike 'DestinationExists*'
        Get-Content $tar | Should -Be 'keep me'
        Export-DockerImage "$Reg/ops/app:v1" $tar -Force
        (Get-Item $tar).Length | Should -BeGreaterThan 1000
    }

    It 'leaves no file for a missing image, nor with -WhatIf' {
        $dir = New-MobyTempDirectory
        Export-DockerImage "$Reg/ops/app:missing" (Join-Path $dir 'a.tar') -ErrorVariable failed -ErrorAction SilentlyContinue
        $failed[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        Export-DockerImage "$Reg/ops/app:v1" (Join-Path $dir 'b.tar') -WhatIf
        Get-ChildItem $dir -Force | Should -BeNullOrEmpty
    }

    It 'takes the asked platform from an index and writes an OCI layout' {
        $dir = New-MobyTempDirectory
        $layout = Join-Path $dir 'layout'
        Export-DockerImage "$Reg/ops/multi:all" $layout -Format OciLayout -Platform linux/arm64
        $raw = Invoke-Skopeo inspect --raw "oci:$layout" | ConvertFrom-Json
        $arm = $Index.Manifests | Where-Object Architecture -eq 'arm64'
        $raw.config.digest | Should -Be $arm.ConfigDigest
    }

    It 'reports a platform the index lacks as PlatformNotFound, naming those it has, and writes nothing' {
        $dir = New-MobyTempDirectory
        Export-DockerImage "$Reg/ops/multi:all" (Join-Path $dir 'x.tar') -Platform linux/s390x -ErrorVariable failed -ErrorAction SilentlyContinue
        $failed | Should -HaveCount 1
        $failed[0].FullyQualifiedErrorId | Should -Be 'PlatformNotFound,MobyDistribution.PowerShell.Commands.ExportDockerImageCommand'
        $failed[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $failed[0].Exception | Should -BeOfType ([MobyDistribution.Errors.PlatformNotFoundException])
        $failed[0].Exception.Message | Should -BeLike '*linux/s390x*It has: linux/amd64, linux/arm64/v8.'
        $failed[0].ErrorDetails.RecommendedAction | Should -BeLike '*-Platform linux/amd64*'
        Get-ChildItem $dir -Force | Should -BeNullOrEmpty
    }
}

Describe 'Import-DockerImage' {
    It 'pushes an exported image back with the same config digest' {
        $tar = Join-Path (New-MobyTempDirectory) 'round.tar'
        Export-DockerImage "$Reg/ops/app:v1" $tar
        $imported = Import-DockerImage -Path $tar -Destination "$($Basic.HostPort)/ops/imported:v1"
        $imported.ConfigDigest.ToString() | Should -Be $Image.ConfigDigest
        (Get-ImageManifest "$($Basic.HostPort)/ops/imported:v1").Config.Digest.ToString() | Should -Be $Image.ConfigDigest
        # The same tar gives the same digest again.
        $again = Get-Item $tar | Import-DockerImage -Destination "$($Basic.HostPort)/ops/imported:v2"
        $again.Manifest.Digest | Should -Be $imported.Manifest.Digest
    }

    It 'pushes to the RepoTags of a tar written by skopeo' {
        $tar = Join-Path (New-MobyTempDirectory) 'skopeo.tar'
        Invoke-Skopeo copy --insecure-policy --src-tls-verify=false "docker://$Reg/ops/app:v1" "docker-archive:${tar}:$Reg/ops/fromskopeo:v3" | Out-Null
        $imported = Import-DockerImage $tar
        $imported.Reference.ToString() | Should -BeLike "$Reg/ops/fromskopeo:v3@sha256:*"
        (Get-RegistryTag "$Reg/ops/fromskopeo").Tag | Should -Be 'v3'
    }

    It 'refuses an archive whose entries escape, before anything is pushed' {
        $tar = Join-Path (New-MobyTempDirectory) 'evil.tar'
        New-TarFile $tar @{
            'manifest.json' = '[{"Config":"c.json","RepoTags":["' + $Reg + '/ops/evil:v1"],"Layers":["l/layer.tar"]}]'
            '../evil' = 'outside'
        }
        Import-DockerImage $tar -ErrorVariable failed -ErrorAction SilentlyContinue
        $failed | Should -HaveCount 1
        $failed[0].FullyQualifiedErrorId | Should -BeLike 'ArchiveEntryUnsafe*'
        $failed[0].CategoryInfo.Category | Should -Be 'SecurityError'
        (Get-RegistryCatalog $Reg).Repository | Should -Not -Contain 'ops/evil'
    }
}

Describe 'Add-ImageLayer' {
    It 'builds an image from scratch and a folder, with labels and a command' {
        $root = New-MobyTempDirectory
        New-Item -ItemType Directory (Join-Path $root 'app') | Out-Null
        'hello' | Set-Content (Join-Path $root 'app/hello.txt')
        $result = Add-ImageLayer -Reference scratch -Path $root -Destination "$Reg/ops/built:v1" -Label @{ team = 'core' } -Command '/bin/cat', '/app/hello.txt' -Environment 'MODE=demo'
        $result.AddedLayers | Should -HaveCount 1
        $config = Invoke-Skopeo inspect --config --raw --tls-verify=false "docker://$Reg/ops/built:v1" | ConvertFrom-Json
        $config.rootfs.diff_ids | Should -HaveCount 1
        $config.config.Labels.team | Should -Be 'core'
        $config.config.Cmd | Should -Be @('/bin/cat', '/app/hello.txt')
        $config.config.Env | Should -Contain 'MODE=demo'
        # The same folder gives the same layer.
        $again = Add-ImageLayer scratch $root "$Reg/ops/built:v2"
        $again.AddedLayers[0].Digest | Should -Be $result.AddedLayers[0].Digest
    }

    It 'adds a layer onto a base image in another registry' {
        $root = New-MobyTempDirectory
        'more' | Set-Content (Join-Path $root 'more.txt')
        $result = Add-ImageLayer "$Reg/ops/app:v1" $root "$($Basic.HostPort)/ops/extended:v1"
        $manifest = Get-ImageManifest "$($Basic.HostPort)/ops/extended:v1"
        $manifest.Layers | Should -HaveCount 3
        $manifest.Layers[0].Digest.ToString() | Should -Be $Image.Layers[0].Digest
        $manifest.Digest | Should -Be $result.Descriptor.Digest
    }

    It 'reports a platform the base index lacks as PlatformNotFound and pushes nothing' {
        $root = New-MobyTempDirectory
        'x' | Set-Content (Join-Path $root 'x.txt')
        Add-ImageLayer "$Reg/ops/multi:all" $root "$Reg/ops/noplatform:v1" -Platform linux/s390x -ErrorVariable failed -ErrorAction SilentlyContinue
        $failed | Should -HaveCount 1
        $failed[0].FullyQualifiedErrorId | Should -Be 'PlatformNotFound,MobyDistribution.PowerShell.Commands.AddImageLayerCommand'
        $failed[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $failed[0].Exception.Message | Should -BeLike '*linux/amd64, linux/arm64/v8*'
        (Get-RegistryCatalog $Reg).Repository | Should -Not -Contain 'ops/noplatform'
    }

    It 'adds a plain file at the root under its name, and a file and a folder''s content under -Prefix' {
        $root = New-MobyTempDirectory
        $file = Join-Path $root 'hostname'
        [IO.File]::WriteAllText($file, "box-7`n")
        $folder = Join-Path $root 'site'
        New-Item -ItemType Directory (Join-Path $folder 'css') | Out-Null
        [IO.File]::WriteAllText((Join-Path $folder 'css/main.css'), 'body{}')

        Add-ImageLayer "$Reg/ops/app:v1" $file "$Reg/ops/file:v1" | Out-Null
        $entries = @(Get-LastLayerEntry "$Reg/ops/file:v1")
        $entries.Name | Should -Be @('hostname')
        $entries[0].Text | Should -Be "box-7`n"
        (Get-PushedConfig "$Reg/ops/file:v1").history[-1].created_by | Should -Be 'ADD file:hostname in /'

        Add-ImageLayer "$Reg/ops/app:v1" $folder "$Reg/ops/file:v2" -Prefix /srv/www | Out-Null
        $entries = @(Get-LastLayerEntry "$Reg/ops/file:v2")
        $entries.Name | Should -Be @('srv/', 'srv/www/', 'srv/www/css/', 'srv/www/css/main.css')
        $entries[0].Type | Should -Be 'Directory'

        Add-ImageLayer "$Reg/ops/app:v1" $file "$Reg/ops/file:v3" -Prefix /etc/box | Out-Null
        (Get-LastLayerEntry "$Reg/ops/file:v3").Name | Should -Be @('etc/', 'etc/box/', 'etc/box/hostname')
        (Get-PushedConfig "$Reg/ops/file:v3").history[-1].created_by | Should -Be 'ADD file:hostname in /etc/box'
    }

    It 'refuses a file named like a tar that is not one, with LayerSourceInvalid, and pushes nothing' {
        $bad = Join-Path (New-MobyTempDirectory) 'backup.tar.gz'
        [IO.File]::WriteAllText($bad, 'not an archive at all')
        Add-ImageLayer scratch $bad "$Reg/ops/badtar:v1" -ErrorVariable failed -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $failed | Should -HaveCount 1
        $failed[0].FullyQualifiedErrorId | Should -BeLike 'LayerSourceInvalid,*'
        $failed[0].CategoryInfo.Category | Should -Be 'InvalidData'
        $failed[0].TargetObject | Should -Be $bad
        $failed[0].Exception.Message | Should -Match 'named like a tar archive, but it is not a tar archive'
        $failed[0].Exception.Message | Should -Not -Match 'Add-ImageLayer'
        (Get-RegistryCatalog $Reg).Repository | Should -Not -Contain 'ops/badtar'
    }

    It 'records the base''s created time by default, SOURCE_DATE_EPOCH over it, and -Created over both, in the history too' {
        $root = New-MobyTempDirectory
        'x' | Set-Content (Join-Path $root 'x.txt')
        $baseCreated = (Invoke-Skopeo inspect --config --raw --tls-verify=false "docker://$Reg/ops/app:v1" | ConvertFrom-Json -DateKind String).created
        $baseCreated | Should -Not -BeLike '1970-*'
        $saved = $env:SOURCE_DATE_EPOCH
        try {
            $env:SOURCE_DATE_EPOCH = $null
            Add-ImageLayer "$Reg/ops/app:v1" $root "$Reg/ops/dated:base" | Out-Null
            $config = Invoke-Skopeo inspect --config --raw --tls-verify=false "docker://$Reg/ops/dated:base" | ConvertFrom-Json -DateKind String
            $config.created | Should -Be $baseCreated
            $config.history[-1].created | Should -Be $baseCreated
            $config.history[-1].created_by | Should -Be ('ADD dir:' + (Split-Path $root -Leaf) + ' in /')

            $env:SOURCE_DATE_EPOCH = '1700000000'
            Add-ImageLayer "$Reg/ops/app:v1" $root "$Reg/ops/dated:epoch" | Out-Null
            $config = Invoke-Skopeo inspect --config --raw --tls-verify=false "docker://$Reg/ops/dated:epoch" | ConvertFrom-Json -DateKind String
            $config.created | Should -Be '2023-11-14T22:13:20Z'
            $config.history[-1].created | Should -Be '2023-11-14T22:13:20Z'

            Add-ImageLayer "$Reg/ops/app:v1" $root "$Reg/ops/dated:chosen" -Created '2025-03-04T05:06:07+02:00' | Out-Null
            $config = Invoke-Skopeo inspect --config --raw --tls-verify=false "docker://$Reg/ops/dated:chosen" | ConvertFrom-Json -DateKind String
            $config.created | Should -Be '2025-03-04T03:06:07Z'
            $config.history[-1].created | Should -Be '2025-03-04T03:06:07Z'

            $env:SOURCE_DATE_EPOCH = 'last tuesday'
            Add-ImageLayer "$Reg/ops/app:v1" $root "$Reg/ops/dated:bad" -ErrorVariable failed -ErrorAction SilentlyContinue
            $failed[0].FullyQualifiedErrorId | Should -BeLike 'InvalidArgument,*'
        } finally {
            $env:SOURCE_DATE_EPOCH = $saved
        }
    }

    It 'reports a missing folder and pushes nothing' {
        Add-ImageLayer scratch (Join-Path ([IO.Path]::GetTempPath()) 'no-such-folder-moby') "$Reg/ops/none:v1" -ErrorVariable failed -ErrorAction SilentlyContinue
        $failed[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        (Get-RegistryCatalog $Reg).Repository | Should -Not -Contain 'ops/none'
    }
}
