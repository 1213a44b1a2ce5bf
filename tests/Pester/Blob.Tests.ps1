#Requires -Version 7.0
# Save-ImageBlob, Publish-ImageBlob and Remove-ImageBlob against a real registry.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-MobyModule
    $script:TestBed = Start-MobyTestBed
    $script:Image = New-MobyFixture -Layers 3 -Seed 31
    $script:Anonymous = $TestBed.Anonymous
    $script:Registry = $Anonymous.HostPort
    Publish-MobyFixture $Image $Anonymous 'app' 'v1' | Out-Null
    $script:Layer = $Image.Layers[0]

    # A file of random bytes to publish, and its digest.
    $script:Upload = Join-Path (New-MobyTempDirectory) 'upload.bin'
    $bytes = [byte[]]::new(300KB)
    [Random]::new(7).NextBytes($bytes)
    [IO.File]::WriteAllBytes($Upload, $bytes)
    $script:UploadDigest = Get-MobySha256 $Upload
}

AfterAll {
    Remove-MobyTempDirectory
    $TestBed.Dispose()
    $Image.Dispose()
}

Describe 'Save-ImageBlob' {
    It 'saves the config and layers of a piped manifest, each named by its digest' {
        $folder = New-MobyTempDirectory
        $files = Get-ImageManifest "$Registry/app:v1" | Save-ImageBlob -Path $folder -PassThru
        $files.Count | Should -Be 4
        $files[0] | Should -BeOfType ([IO.FileInfo])
        $expected = @($Image.ConfigDigest) + $Image.Layers.Digest
        foreach ($digest in $expected) {
            $file = Join-Path $folder ($digest -replace ':', '-')
            $file | Should -Exist
            Get-MobySha256 $file | Should -Be $digest
        }
        Get-ChildItem $folder -Force | Should -HaveCount 4
    }

    It 'saves one blob by digest to a file path' {
        $file = Join-Path (New-MobyTempDirectory) 'layer.tar.gz'
        Save-ImageBlob -Repository "$Registry/app" -Digest $Layer.Digest -Path $file
        Get-MobySha256 $file | Should -Be $Layer.Digest
    }

    It 'saves piped descriptors, checking their size' {
        $folder = New-MobyTempDirectory
        (Get-ImageManifest "$Registry/app:v1").Layers | Save-ImageBlob -Path $folder
        Get-ChildItem $folder | Should -HaveCount 3
    }

    It 'refuses an existing file without -Force (DestinationExists) and overwrites it with -Force' {
        $file = Join-Path (New-MobyTempDirectory) 'exists.bin'
        Set-Content -Path $file -Value 'old'
        Save-ImageBlob -Repository "$Registry/app" -Digest $Layer.Digest -Path $file -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -Be 'DestinationExists,MobyDistribution.PowerShell.Commands.SaveImageBlobCommand'
        Get-Content $file | Should -Be 'old'
        Save-ImageBlob -Repository "$Registry/app" -Digest $Layer.Digest -Path $file -Force
        Get-MobySha256 $file | Should -Be $Layer.Digest
    }

    It 'leaves no file when the blob does not match its descriptor (BlobDigestMismatch)' {
        $folder = New-MobyTempDirectory
        $descriptor = (Get-ImageManifest "$Registry/app:v1").Layers[0]
        $wrong = [MobyDistribution.Descriptor]::new($descriptor.MediaType, $descriptor.Digest, $descriptor.Size + 1)
        $wrong.Source = $descriptor.Source
        $wrong | Save-ImageBlob -Path $folder -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -Be 'BlobDigestMismatch,MobyDistribution.PowerShell.Commands.SaveImageBlobCommand'
        $err[0].CategoryInfo.Category | Should -Be 'InvalidData'
        Get-ChildItem $folder -Force | Should -BeNullOrEmpty
    }

    It 'reports an unknown blob as BlobNotFound' {
        $file = Join-Path (New-MobyTempDirectory) 'missing.bin'
        Save-ImageBlob -Repository "$Registry/app" -Digest ('sha256:' + 'e' * 64) -Path $file -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'BlobNotFound,*'
        $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $file | Should -Not -Exist
    }

    It 'saves only one blob to a path that is not a folder (DestinationNotAFolder)' {
        $file = Join-Path (New-MobyTempDirectory) 'one.bin'
        Save-ImageBlob -Repository "$Registry/app" -Digest $Image.Layers[0].Digest, $Image.Layers[1].Digest -Path $file -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'DestinationNotAFolder,*'
        Get-MobySha256 $file | Should -Be $Image.Layers[0].Digest
    }

    It 'changes nothing with -WhatIf' {
        $folder = New-MobyTempDirectory
        Get-ImageManifest "$Registry/app:v1" | Save-ImageBlob -Path $folder -WhatIf
        Get-ChildItem $folder -Force | Should -BeNullOrEmpty
    }

    It 'writes progress, overall and per blob under it, as $ProgressPreference <Preference> says' -ForEach @(
        @{ Preference = 'Continue' }, @{ Preference = 'SilentlyContinue' }) {
        $ps = [powershell]::Create()
        try {
            $null = $ps.AddScript({
                    param($Module, $Reference, $Folder, $Preference)
                    $ProgressPreference = $Preference
                    Import-Module $Module
                    Get-ImageManifest $Reference | Save-ImageBlob -Path $Folder
                }).AddArgument((Get-MobyModulePath)).AddArgument("$Registry/app:v1").AddArgument((New-MobyTempDirectory)).AddArgument($Preference)
            $null = $ps.Invoke()
            $ps.Streams.Error | Should -BeNullOrEmpty
            $records = @($ps.Streams.Progress)
            if ($Preference -eq 'SilentlyContinue') {
                $records | Should -BeNullOrEmpty
                return
            }
            $records | Where-Object { $_.ActivityId -eq 1 -and $_.StatusDescription -like '4 of 4 blobs*' } | Should -Not -BeNullOrEmpty
            $records | Where-Object { $_.ActivityId -eq 1 -and $_.RecordType -eq 'Completed' } | Should -Not -BeNullOrEmpty
            foreach ($child in $records | Where-Object ActivityId -ne 1) {
                $child.ParentActivityId | Should -Be 1
                $child.Activity | Should -BeLike 'Blob sha256:*'
            }
        } finally {
            $ps.Dispose()
        }
    }
}

Describe 'Publish-ImageBlob' {
    It 'changes nothing with -WhatIf' {
        Publish-ImageBlob -Repository "$Registry/uploads" -Path $Upload -WhatIf
        Save-ImageBlob -Repository "$Registry/uploads" -Digest $UploadDigest -Path (New-MobyTempDirectory) -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'BlobNotFound,*'
    }

    It 'uploads a file in chunks and says so' {
        $published = Publish-ImageBlob -Repository "$Registry/uploads" -Path $Upload -MediaType 'application/vnd.oci.image.layer.v1.tar'
        $published | Should -BeOfType ([MobyDistribution.PowerShell.PublishedBlob])
        $published.Outcome | Should -Be 'Uploaded'
        $published.Digest.ToString() | Should -Be $UploadDigest
        $published.Size | Should -Be 300KB
        $published.MediaType | Should -Be 'application/vnd.oci.image.layer.v1.tar'

        $back = Join-Path (New-MobyTempDirectory) 'back.bin'
        Save-ImageBlob -Repository "$Registry/uploads" -Digest $UploadDigest -Path $back
        Get-MobySha256 $back | Should -Be $UploadDigest
    }

    It 'sends nothing when the blob is there and the digest is known' {
        (Publish-ImageBlob -Repository "$Registry/uploads" -Path $Upload -Digest $UploadDigest).Outcome | Should -Be 'Existed'
    }

    It 'uploads in one request with -Monolithic' {
        $published = Get-Item $Upload | Publish-ImageBlob -Repository "$Registry/monolithic" -Monolithic
        $published.Outcome | Should -Be 'Uploaded'
        $published.Digest.ToString() | Should -Be $UploadDigest
    }

    It 'mounts from another repository with -MountFrom' {
        (Publish-ImageBlob -Repository "$Registry/mounted" -Path $Upload -MountFrom 'uploads').Outcome | Should -Be 'Mounted'
        (Publish-ImageBlob -Repository "$Registry/mounted2" -Path $Upload -MountFrom "$Registry/uploads").Outcome | Should -Be 'Mounted'
    }

    It 'never commits content that does not match -Digest (BlobDigestMismatch)' {
        $wrong = 'sha256:' + ('1' * 64)
        Publish-ImageBlob -Repository "$Registry/mismatch" -Path $Upload -Digest $wrong -Monolithic -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'Blob*,*'
        $err[0].CategoryInfo.Category | Should -BeIn @('InvalidData', 'InvalidArgument')
        Save-ImageBlob -Repository "$Registry/mismatch" -Digest $UploadDigest -Path (New-MobyTempDirectory) -ErrorAction SilentlyContinue -ErrorVariable missing
        $missing[0].FullyQualifiedErrorId | Should -BeLike 'BlobNotFound,*'
    }

    It 'reports a missing file as FileNotFound' {
        Publish-ImageBlob -Repository "$Registry/uploads" -Path (Join-Path (New-MobyTempDirectory) 'nope.bin') -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'FileNotFound,*'
    }
}

Describe 'Remove-ImageBlob' {
    BeforeAll {
        Publish-ImageBlob -Repository "$Registry/removal" -Path $Upload | Out-Null
    }

    It 'changes nothing with -WhatIf' {
        Remove-ImageBlob -Repository "$Registry/removal" -Digest $UploadDigest -WhatIf
        $file = Join-Path (New-MobyTempDirectory) 'still.bin'
        Save-ImageBlob -Repository "$Registry/removal" -Digest $UploadDigest -Path $file
        $file | Should -Exist
    }

    It 'deletes the blob and writes its descriptor with -PassThru' {
        $removed = Remove-ImageBlob -Repository "$Registry/removal" -Digest $UploadDigest -Confirm:$false -PassThru
        $removed.Digest.ToString() | Should -Be $UploadDigest
        Save-ImageBlob -Repository "$Registry/removal" -Digest $UploadDigest -Path (New-MobyTempDirectory) -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'BlobNotFound,*'
    }

    It 'reports a missing blob as BlobNotFound' {
        Remove-ImageBlob -Repository "$Registry/removal" -Digest $UploadDigest -Confirm:$false -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -Be 'BlobNotFound,MobyDistribution.PowerShell.Commands.RemoveImageBlobCommand'
        $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }
}
