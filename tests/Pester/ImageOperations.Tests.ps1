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

    It 'reports a missing folder and pushes nothing' {
        Add-ImageLayer scratch (Join-Path ([IO.Path]::GetTempPath()) 'no-such-folder-moby') "$Reg/ops/none:v1" -ErrorVariable failed -ErrorAction SilentlyContinue
        $failed[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        (Get-RegistryCatalog $Reg).Repository | Should -Not -Contain 'ops/none'
    }
}
