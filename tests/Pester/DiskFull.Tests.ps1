#Requires -Version 7.0
# Export-DockerImage and Save-ImageBlob onto a real full disk (a 2 MiB tmpfs mounted for the test, as root on Linux): a clear
# error, no temporary file left holding the space after any try, and a file given with -Force kept as it was.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-MobyModule

    # Mounting needs root on Linux; elsewhere every test reports itself skipped with the reason.
    $script:NoTmpfs = $null
    $script:Disk = Join-Path ([IO.Path]::GetTempPath()) ('moby-diskfull-' + [guid]::NewGuid().ToString('N').Substring(0, 12))
    if (-not $IsLinux) {
        $NoTmpfs = 'a tmpfs can be mounted only on Linux'
    } else {
        New-Item -ItemType Directory -Path $Disk | Out-Null
        $output = & mount -t tmpfs -o size=2m tmpfs $Disk 2>&1
        if ($LASTEXITCODE -ne 0) { $NoTmpfs = "mount -t tmpfs is not permitted here ($output)" }
    }

    $script:TestBed = Start-MobyTestBed
    # 6 MiB of incompressible layer: three times the disk, compressed or not.
    $script:Large = [MobyDistribution.TestBed.FixtureImage]::CreateLargeLayer(6MB, 93)
    Publish-MobyFixture $Large $TestBed.Anonymous 'full/big' 'v1' | Out-Null
    $script:Reg = $TestBed.Anonymous.HostPort

    function Skip-WithoutTmpfs {
        if ($NoTmpfs) { Set-ItResult -Skipped -Because $NoTmpfs }
    }

    # Everything in the small filesystem but the named files: what a failed write left behind.
    function Get-Leftover([string[]] $Keep = @()) {
        Get-ChildItem -LiteralPath $Disk -Force -Recurse | Where-Object { $Keep -notcontains $_.Name }
    }
}

AfterAll {
    if ($IsLinux -and -not $NoTmpfs) { & umount $Disk }
    Remove-Item -LiteralPath $Disk -Recurse -Force -ErrorAction SilentlyContinue
    $TestBed.Dispose()
    $Large.Dispose()
}

Describe 'Writing onto a full disk' {
    AfterEach {
        if (-not $NoTmpfs) { Get-ChildItem -LiteralPath $Disk -Force | Remove-Item -Recurse -Force }
    }

    It 'Export-DockerImage -Force fails clearly, keeps the file it was to replace and leaves no .partial, every try' {
        Skip-WithoutTmpfs
        $tar = Join-Path $Disk 'big.tar'
        'keep me' | Set-Content $tar
        foreach ($try in 1..3) {
            Export-DockerImage "$Reg/full/big:v1" $tar -Force -ErrorVariable failed -ErrorAction SilentlyContinue
            $failed.Count | Should -Be 1
            $failed[0].FullyQualifiedErrorId | Should -BeLike 'ImageWriteFailed*'
            $failed[0].CategoryInfo.Category | Should -Be 'WriteError'
            $failed[0].Exception.Message | Should -BeLike '*space*'
            Get-Content $tar | Should -Be 'keep me'
            Get-Leftover -Keep 'big.tar' | Should -BeNullOrEmpty
        }
        # Each try gave its space back: a file nearly the size of the disk still fits.
        $free = [IO.DriveInfo]::new($Disk).AvailableFreeSpace
        $free | Should -BeGreaterThan 1900KB
    }

    It 'Export-DockerImage of an OCI layout, a folder or a tar, leaves nothing, and -Force keeps the layout it was to replace' {
        Skip-WithoutTmpfs
        Export-DockerImage "$Reg/full/big:v1" (Join-Path $Disk 'layout') -Format OciLayout -ErrorVariable failed -ErrorAction SilentlyContinue
        $failed[0].FullyQualifiedErrorId | Should -BeLike 'ImageWriteFailed*'
        Export-DockerImage "$Reg/full/big:v1" (Join-Path $Disk 'layout.tar') -Format OciLayout -ErrorVariable failedTar -ErrorAction SilentlyContinue
        $failedTar[0].FullyQualifiedErrorId | Should -BeLike 'ImageWriteFailed*'
        Get-Leftover | Should -BeNullOrEmpty

        $old = New-Item -ItemType Directory -Path (Join-Path $Disk 'old')
        'keep me' | Set-Content (Join-Path $old 'index.json')
        Export-DockerImage "$Reg/full/big:v1" $old.FullName -Format OciLayout -Force -ErrorVariable failedForce -ErrorAction SilentlyContinue
        $failedForce[0].FullyQualifiedErrorId | Should -BeLike 'ImageWriteFailed*'
        Get-Content (Join-Path $old 'index.json') | Should -Be 'keep me'
        Get-Leftover -Keep 'old', 'index.json' | Should -BeNullOrEmpty
    }

    It 'Save-ImageBlob of a layer larger than the disk leaves neither the file nor a .partial' {
        Skip-WithoutTmpfs
        $layer = $Large.Layers[0]
        Save-ImageBlob -Repository "$Reg/full/big" -Digest $layer.Digest -Path (Join-Path $Disk 'layer.bin') -ErrorVariable failed -ErrorAction SilentlyContinue
        $failed.Count | Should -Be 1
        $failed[0].CategoryInfo.Category | Should -Be 'WriteError'
        $failed[0].Exception.Message | Should -BeLike '*space*'
        Get-Leftover | Should -BeNullOrEmpty
    }
}
