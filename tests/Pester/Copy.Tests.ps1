#Requires -Version 7.0
# Copy-RegistryImage against real registries, checked with skopeo.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-MobyModule
    $script:TestBed = Start-MobyTestBed
    $script:Image = New-MobyFixture -Layers 2 -Seed 61
    $script:Index = New-MobyFixture -Layers 1 -Seed 62 -Index
    $script:Anon = $TestBed.Anonymous.HostPort
    $script:Basic = $TestBed.Basic
    $script:ImageDigest = Publish-MobyFixture $Image $TestBed.Anonymous 'copy/app' 'v1'
    Publish-MobyFixture $Image $TestBed.Anonymous 'copy/app' 'v2' | Out-Null
    $script:IndexDigest = Publish-MobyFixture $Index $TestBed.Anonymous 'copy/multi' 'all'
    Connect-MobyTestRegistry $TestBed.Anonymous | Out-Null
    Connect-MobyTestRegistry $Basic | Out-Null

    function Get-SkopeoDigest([string] $Reference, $Credentials = $null) {
        if (-not $Credentials) { $Credentials = [NullString]::Value }
        [MobyDistribution.TestBed.Skopeo]::Digest("docker://$Reference", $Credentials)
    }
}

AfterAll {
    Get-RegistrySession | ForEach-Object { Disconnect-Registry -Registry $_.Registry }
    $TestBed.Dispose()
    $Image.Dispose()
    $Index.Dispose()
}

Describe 'Copy-RegistryImage' {
    It 'copies within a registry by mounting, keeping the digest' {
        $copy = Copy-RegistryImage -Source "$Anon/copy/app:v1" -Destination "$Anon/copy/mounted:v1"
        $copy | Should -BeOfType ([MobyDistribution.PowerShell.CopiedImage])
        $copy.Digest.ToString() | Should -Be $ImageDigest
        $copy.Mounted | Should -Be 3
        $copy.Transferred | Should -Be 0
        $copy.BytesTransferred | Should -Be 0
        Get-SkopeoDigest "$Anon/copy/mounted:v1" | Should -Be $ImageDigest
    }

    It 'copies across registries into a Basic-auth registry' {
        $copy = Copy-RegistryImage "$Anon/copy/app:v1" "$($Basic.HostPort)/team/app:v1"
        $copy.Digest.ToString() | Should -Be $ImageDigest
        $copy.Transferred | Should -Be 3
        $copy.Reference.ToString() | Should -Be "$($Basic.HostPort)/team/app:v1@$ImageDigest"
        Get-SkopeoDigest "$($Basic.HostPort)/team/app:v1" $Basic.Credentials | Should -Be $ImageDigest
    }

    It 'copies an index whole, and a platform subset into a new index with a warning' {
        (Copy-RegistryImage "$Anon/copy/multi:all" "$Anon/copy/multi2:all").Digest.ToString() | Should -Be $IndexDigest

        $subset = Copy-RegistryImage "$Anon/copy/multi:all" "$Anon/copy/arm:only" -Platform linux/arm64 -WarningVariable warned 3>$null
        $subset.DigestChanged | Should -BeTrue
        $subset.Digest.ToString() | Should -Not -Be $IndexDigest
        $warned | Should -Not -BeNullOrEmpty
        $pushed = Get-ImageManifest "$Anon/copy/arm:only"
        $pushed.Manifests | Should -HaveCount 1
        $pushed.Manifests[0].Platform.Architecture | Should -Be 'arm64'
    }

    It 'reports a platform the index lacks as PlatformNotFound, naming those it has, and copies nothing' {
        Copy-RegistryImage "$Anon/copy/multi:all" "$Anon/copy/noplatform:x" -Platform linux/arm64, linux/s390x -ErrorVariable failed -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $failed | Should -HaveCount 1
        $failed[0].FullyQualifiedErrorId | Should -Be 'PlatformNotFound,MobyDistribution.PowerShell.Commands.CopyRegistryImageCommand'
        $failed[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $failed[0].Exception.Message | Should -BeLike '*platform linux/s390x.*It has: linux/amd64, linux/arm64/v8.'
        $failed[0].ErrorDetails.RecommendedAction | Should -BeLike '*-Platform*'
        Get-RegistryTag "$Anon/copy/noplatform" -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }

    It 'mirrors a repository from Get-RegistryTag into a destination without a tag' {
        $copies = Get-RegistryTag "$Anon/copy/app" | Copy-RegistryImage -Destination "$($Basic.HostPort)/mirror/app"
        $copies | Should -HaveCount 2
        (Get-RegistryTag "$($Basic.HostPort)/mirror/app").Tag | Sort-Object | Should -Be @('v1', 'v2')
    }

    It 'shows the plan with -WhatIf and changes nothing' {
        $out = Copy-RegistryImage "$Anon/copy/app:v1" "$($Basic.HostPort)/whatif/app:v1" -WhatIf 6>&1 | Out-String
        Get-RegistryTag "$($Basic.HostPort)/whatif/app" -ErrorAction SilentlyContinue -ErrorVariable missing | Should -BeNullOrEmpty
        $missing[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }

    It 'reports a missing source as ObjectNotFound and goes on with the next one' {
        $results = "$Anon/copy/app:nope", "$Anon/copy/app:v1" | Copy-RegistryImage -Destination "$Anon/copy/next" -ErrorVariable failed -ErrorAction SilentlyContinue
        $results | Should -HaveCount 1
        $failed | Should -HaveCount 1
        $failed[0].FullyQualifiedErrorId | Should -BeLike 'ImageNotFound*'
        $failed[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }
}
