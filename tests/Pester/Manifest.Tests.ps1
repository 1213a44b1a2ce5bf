#Requires -Version 7.0
# Get-ImageManifest, Publish-ImageManifest and Remove-ImageManifest against a real registry, checked with skopeo.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-MobyModule
    $script:TestBed = Start-MobyTestBed
    $script:Image = New-MobyFixture -Layers 2 -Seed 21
    $script:Index = New-MobyFixture -Layers 1 -Seed 22 -Index
    $script:Anonymous = $TestBed.Anonymous
    $script:Registry = $Anonymous.HostPort
    $script:OciDigest = Publish-MobyFixture $Image $Anonymous 'app' 'oci'
    $script:DockerDigest = Publish-MobyFixture $Image $Anonymous 'app' 'docker' -Format v2s2
    $script:IndexDigest = Publish-MobyFixture $Index $Anonymous 'multi' 'latest'
}

AfterAll {
    Remove-MobyTempDirectory
    $TestBed.Dispose()
    $Image.Dispose()
    $Index.Dispose()
}

Describe 'Get-ImageManifest' {
    It 'gets an OCI image manifest with its config and layers, verified against its digest' {
        $manifest = Get-ImageManifest "$Registry/app:oci"
        $manifest | Should -BeOfType ([MobyDistribution.Manifests.OciImageManifest])
        $manifest.Digest.ToString() | Should -Be $OciDigest
        $manifest.Reference.ToString() | Should -Be "$Registry/app@$OciDigest"
        $manifest.Config.Digest.ToString() | Should -Be $Image.ConfigDigest
        $manifest.Layers.Digest.ForEach({ $_.ToString() }) | Should -Be $Image.Layers.Digest
        $manifest.Layers[0].Source.ToString() | Should -Be "$Registry/app@$($Image.Layers[0].Digest)"
    }

    It 'gets a Docker schema 2 manifest' {
        $manifest = Get-ImageManifest "$Registry/app:docker"
        $manifest | Should -BeOfType ([MobyDistribution.Manifests.DockerManifestV2])
        $manifest.Digest.ToString() | Should -Be $DockerDigest
    }

    It 'gets an index, and -Platform resolves it to one image' {
        $got = Get-ImageManifest "$Registry/multi"
        $got | Should -BeOfType ([MobyDistribution.Manifests.OciImageIndex])
        $got.Digest.ToString() | Should -Be $IndexDigest
        $got.Manifests.Count | Should -Be 2

        $arm = $Index.Manifests | Where-Object Architecture -eq 'arm64'
        $resolved = Get-ImageManifest "$Registry/multi" -Platform linux/arm64
        $resolved | Should -BeOfType ([MobyDistribution.Manifests.OciImageManifest])
        $resolved.Digest.ToString() | Should -Be $arm.Digest
        (Get-ImageManifest "$Registry/multi" -Platform linux/arm64 -Descriptor).Digest.ToString() | Should -Be $arm.Digest
    }

    It 'reports a platform the index lacks as PlatformNotFound, naming those it has' {
        Get-ImageManifest "$Registry/multi" -Platform windows/amd64 -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -Be 'PlatformNotFound,MobyDistribution.PowerShell.Commands.GetImageManifestCommand'
        $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $err[0].Exception.Message | Should -BeLike '*linux/amd64*linux/arm64*'
        $err[0].Exception | Should -BeOfType ([MobyDistribution.Errors.PlatformNotFoundException])
        $err[0].ErrorDetails.RecommendedAction | Should -BeLike '*-Platform linux/amd64*'
    }

    It 'gets only the descriptor with -Descriptor' {
        $descriptor = Get-ImageManifest "$Registry/app:oci" -Descriptor
        $descriptor | Should -BeOfType ([MobyDistribution.Descriptor])
        $descriptor.Digest.ToString() | Should -Be $OciDigest
        $descriptor.MediaType | Should -Be 'application/vnd.oci.image.manifest.v1+json'
        $descriptor.Size | Should -Be $Image.Size
    }

    It 'writes the exact bytes with -Raw' {
        $raw = Get-ImageManifest "$Registry/multi" -Raw
        $raw | Should -BeOfType ([string])
        $raw | Should -BeExactly ([MobyDistribution.TestBed.Skopeo]::InspectRaw($Anonymous.ImageReference('multi', 'latest')))
        $bytes = [Text.Encoding]::UTF8.GetBytes($raw)
        [MobyDistribution.Digest]::Compute($bytes).ToString() | Should -Be $IndexDigest
    }

    It 'reports a missing tag as ManifestNotFound (ObjectNotFound) and goes on' {
        $found = Get-ImageManifest "$Registry/app:missing", "$Registry/app:oci" -ErrorVariable err -ErrorAction SilentlyContinue
        @($found).Count | Should -Be 1
        $err[0].FullyQualifiedErrorId | Should -Be 'ManifestNotFound,MobyDistribution.PowerShell.Commands.GetImageManifestCommand'
        $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }

    It 'takes tags from Get-RegistryTag by the pipeline' {
        (Get-RegistryTag "$Registry/app" -Name oci | Get-ImageManifest).Digest.ToString() | Should -Be $OciDigest
    }
}

Describe 'Publish-ImageManifest' {
    It 'changes nothing with -WhatIf' {
        Get-ImageManifest "$Registry/app:oci" | Publish-ImageManifest -Reference "$Registry/app:whatif" -WhatIf
        Get-RegistryTag "$Registry/app" -Name whatif -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }

    It 'pushes a manifest object under a new tag, byte for byte' {
        $pushed = Get-ImageManifest "$Registry/app:oci" | Publish-ImageManifest -Reference "$Registry/app:copy"
        $pushed | Should -BeOfType ([MobyDistribution.Descriptor])
        $pushed.Digest.ToString() | Should -Be $OciDigest
        [MobyDistribution.TestBed.Skopeo]::Digest($Anonymous.ImageReference('app', 'copy')) | Should -Be $OciDigest
    }

    It 'pushes JSON from a file and from a string' {
        $raw = Get-ImageManifest "$Registry/app:docker" -Raw
        $file = Join-Path (New-MobyTempDirectory) 'manifest.json'
        [IO.File]::WriteAllText($file, $raw)
        (Publish-ImageManifest -Reference "$Registry/app:from-file" -Path $file).Digest.ToString() | Should -Be $DockerDigest
        $pushed = Publish-ImageManifest -Reference "$Registry/app:from-json" -Json $raw
        $pushed.Digest.ToString() | Should -Be $DockerDigest
        $pushed.MediaType | Should -Be 'application/vnd.docker.distribution.manifest.v2+json'
    }

    It 'refuses a reference whose digest is not the manifest''s (ManifestDigestMismatch)' {
        $other = 'sha256:' + ('0' * 64)
        Get-ImageManifest "$Registry/app:oci" | Publish-ImageManifest -Reference "$Registry/app@$other" -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'ManifestDigestMismatch,*'
        $err[0].CategoryInfo.Category | Should -Be 'InvalidData'
    }

    It 'refuses JSON that is not a manifest (ManifestInvalid)' {
        Publish-ImageManifest -Reference "$Registry/app:bad" -Json '{"hello":1}' -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'ManifestInvalid,*'
    }
}

Describe 'Remove-ImageManifest' {
    BeforeAll {
        $script:ScratchDigest = Publish-MobyFixture $Image $Anonymous 'scratch/manifest' 'one'
        Publish-MobyFixture $Image $Anonymous 'scratch/manifest' 'two' | Out-Null
    }

    It 'changes nothing with -WhatIf' {
        Remove-ImageManifest "$Registry/scratch/manifest:one" -WhatIf
        (Get-ImageManifest "$Registry/scratch/manifest:one" -Descriptor).Digest.ToString() | Should -Be $ScratchDigest
    }

    It 'resolves a tag to its digest, warns, and deletes every tag on it' {
        $removed = Remove-ImageManifest "$Registry/scratch/manifest:one" -Confirm:$false -PassThru -WarningVariable warned -WarningAction SilentlyContinue
        $removed.Digest.ToString() | Should -Be $ScratchDigest
        $warned[0].Message | Should -BeLike '*every tag*'
        Get-ImageManifest "$Registry/scratch/manifest:two" -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -BeLike 'ManifestNotFound,*'
    }

    It 'reports a missing manifest as ManifestNotFound' {
        Remove-ImageManifest "$Registry/scratch/manifest@$ScratchDigest" -Confirm:$false -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -Be 'ManifestNotFound,MobyDistribution.PowerShell.Commands.RemoveImageManifestCommand'
        $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }
}
