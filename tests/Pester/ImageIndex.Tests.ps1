#Requires -Version 7.0
# New-ImageIndex against real registries; skopeo checks what was pushed.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-MobyModule
    $script:TestBed = Start-MobyTestBed
    $script:Index = New-MobyFixture -Layers 1 -Seed 71 -Index
    $script:Image = New-MobyFixture -Layers 1 -Seed 72
    $script:Anon = $TestBed.Anonymous.HostPort
    $script:Basic = $TestBed.Basic
    $script:BasicHost = $TestBed.Basic.HostPort
    $script:Creds = $TestBed.Basic.Credentials
    $script:IndexDigest = Publish-MobyFixture $Index $TestBed.Anonymous 'index/multi' 'all'
    $script:Amd64 = $Index.Manifests[0].Digest
    $script:Arm64 = $Index.Manifests[1].Digest
    Connect-MobyTestRegistry $TestBed.Anonymous | Out-Null
    Connect-MobyTestRegistry $Basic | Out-Null

    $skopeo = [MobyDistribution.TestBed.Skopeo]
    # Single-platform images, put in place by skopeo: amd64 in the anonymous registry, arm64 in the Basic one.
    $skopeo::Copy("docker://$Anon/index/multi@$Amd64", "docker://$Anon/index/amd64:v1", [NullString]::Value, [NullString]::Value, @('--preserve-digests')) | Out-Null
    $skopeo::Copy("docker://$Anon/index/multi@$Arm64", "docker://$BasicHost/index/arm64:v1", [NullString]::Value, $Creds, @('--preserve-digests')) | Out-Null
    # The same two as Docker schema2 images (new digests).
    $skopeo::Copy("docker://$Anon/index/multi@$Amd64", "docker://$Anon/index/amd64:docker", [NullString]::Value, [NullString]::Value, @('--format', 'v2s2')) | Out-Null
    $skopeo::Copy("docker://$Anon/index/multi@$Arm64", "docker://$Anon/index/arm64:docker", [NullString]::Value, [NullString]::Value, @('--format', 'v2s2')) | Out-Null
    # Another linux/amd64 image.
    $script:OtherAmd64 = Publish-MobyFixture $Image $TestBed.Anonymous 'index/other' 'v1'

    # The index as skopeo reads it: its media type, and "digest platform" per entry.
    function Get-SkopeoIndex([string] $Reference, $Credentials = $null) {
        if (-not $Credentials) { $Credentials = [NullString]::Value }
        $raw = [MobyDistribution.TestBed.Skopeo]::InspectRaw("docker://$Reference", $Credentials) | ConvertFrom-Json
        [pscustomobject]@{
            MediaType = $raw.mediaType
            Entries   = @($raw.manifests | ForEach-Object {
                "$($_.digest) $($_.platform.os)/$($_.platform.architecture)$(if ($_.platform.PSObject.Properties['variant']) { '/' + $_.platform.variant })"
            })
        }
    }

    # skopeo copies every child and blob into an OCI layout, verifying each against its digest.
    function Assert-SkopeoCopiesAll([string] $Reference, $Credentials = $null) {
        if (-not $Credentials) { $Credentials = [NullString]::Value }
        $dir = Join-Path (New-MobyTempDirectory) 'layout'
        [MobyDistribution.TestBed.Skopeo]::Copy("docker://$Reference", "oci:${dir}:copy", $Credentials, [NullString]::Value, @('--all')) | Out-Null
        Join-Path $dir 'index.json' | Should -Exist
    }

    function Get-Tags([string] $Reference, $Credentials = $null) {
        if (-not $Credentials) { $Credentials = [NullString]::Value }
        try { @([MobyDistribution.TestBed.Skopeo]::ListTags("docker://$Reference", $Credentials)) } catch { @() }
    }
}

AfterAll {
    Get-RegistrySession | ForEach-Object { Disconnect-Registry -Registry $_.Registry }
    $TestBed.Dispose()
    $Index.Dispose()
    $Image.Dispose()
    Remove-MobyTempDirectory
}

Describe 'New-ImageIndex' {
    It 'builds an OCI index from images in two registries, copies them into a third repository, and skopeo verifies it' {
        $index = New-ImageIndex -Reference "$Anon/index/amd64:v1", "$BasicHost/index/arm64:v1" -Destination "$BasicHost/index/app:multi"
        $index | Should -BeOfType ([MobyDistribution.Manifests.OciImageIndex])
        $index.Reference.ToString() | Should -Be "$BasicHost/index/app@$($index.Digest)"
        $index.Manifests.Platform.ForEach({ $_.ToString() }) | Should -Be @('linux/amd64', 'linux/arm64/v8')

        $seen = Get-SkopeoIndex "$BasicHost/index/app:multi" $Creds
        $seen.MediaType | Should -Be 'application/vnd.oci.image.index.v1+json'
        $seen.Entries | Should -Be @("$Amd64 linux/amd64", "$Arm64 linux/arm64/v8")
        [MobyDistribution.TestBed.Skopeo]::Digest("docker://$BasicHost/index/app:multi", $Creds) | Should -Be $index.Digest.ToString()
        Assert-SkopeoCopiesAll "$BasicHost/index/app:multi" $Creds
        # What Get-ImageManifest reads back is the same object type, with the same bytes.
        (Get-ImageManifest "$BasicHost/index/app:multi").RawText | Should -Be $index.RawText
    }

    It 'makes a Docker manifest list of Docker schema2 images, and an OCI index with -MediaType oci' {
        $list = New-ImageIndex "$Anon/index/amd64:docker", "$Anon/index/arm64:docker" "$Anon/index/list:v1"
        $list | Should -BeOfType ([MobyDistribution.Manifests.DockerManifestList])
        (Get-SkopeoIndex "$Anon/index/list:v1").MediaType | Should -Be 'application/vnd.docker.distribution.manifest.list.v2+json'
        Assert-SkopeoCopiesAll "$Anon/index/list:v1"

        $oci = New-ImageIndex "$Anon/index/amd64:docker", "$Anon/index/arm64:docker" "$Anon/index/list:oci" -MediaType oci
        $oci | Should -BeOfType ([MobyDistribution.Manifests.OciImageIndex])
        (Get-SkopeoIndex "$Anon/index/list:oci").MediaType | Should -Be 'application/vnd.oci.image.index.v1+json'
    }

    It 'makes an OCI index of mixed children and says so in verbose' {
        $verbose = New-ImageIndex "$Anon/index/amd64:docker", "$BasicHost/index/arm64:v1" "$Anon/index/mixed:v1" -Verbose 4>&1
        $index = $verbose | Where-Object { $_ -is [MobyDistribution.Manifests.Manifest] }
        $index | Should -BeOfType ([MobyDistribution.Manifests.OciImageIndex])
        ($verbose | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }).Message -join "`n" | Should -Match 'mix Docker and OCI'
        Assert-SkopeoCopiesAll "$Anon/index/mixed:v1"
    }

    It 'writes a Docker list over OCI images with -MediaType docker, warning about it' {
        $list = New-ImageIndex "$Anon/index/amd64:v1", "$BasicHost/index/arm64:v1" "$Anon/index/forced:v1" -MediaType docker -WarningVariable warned 3>$null
        $list | Should -BeOfType ([MobyDistribution.Manifests.DockerManifestList])
        "$warned" | Should -Match 'OCI manifest'
        Assert-SkopeoCopiesAll "$Anon/index/forced:v1"
    }

    It 'takes references by value and Get-ImageManifest output by property name from the pipeline' {
        $fromStrings = "$Anon/index/amd64:v1", "$BasicHost/index/arm64:v1" | New-ImageIndex -Destination "$Anon/index/piped:strings"
        $fromManifests = Get-ImageManifest "$Anon/index/amd64:v1", "$BasicHost/index/arm64:v1" | New-ImageIndex -Destination "$Anon/index/piped:manifests"
        $fromManifests.Digest | Should -Be $fromStrings.Digest
        (Get-SkopeoIndex "$Anon/index/piped:manifests").Entries | Should -Be @("$Amd64 linux/amd64", "$Arm64 linux/arm64/v8")
    }

    It 'flattens an index given as input, taking its entries as they are, and lists a digest given twice once' {
        $index = New-ImageIndex "$Anon/index/multi:all", "$Anon/index/amd64:v1" "$BasicHost/index/flat:v1"
        $index.Manifests | Should -HaveCount 2
        $original = Get-ImageManifest "$Anon/index/multi:all"
        $fields = 'MediaType', 'Digest', 'Size', 'Platform', 'Annotations'
        ($index.Manifests | Select-Object $fields | ConvertTo-Json -Depth 5) | Should -Be ($original.Manifests | Select-Object $fields | ConvertTo-Json -Depth 5)
        (Get-SkopeoIndex "$BasicHost/index/flat:v1" $Creds).Entries | Should -Be @("$Amd64 linux/amd64", "$Arm64 linux/arm64/v8")
        Assert-SkopeoCopiesAll "$BasicHost/index/flat:v1" $Creds
    }

    It 'refuses two images for one platform with DuplicatePlatform naming both, and pushes nothing' {
        $result = New-ImageIndex "$Anon/index/amd64:v1", "$Anon/index/other:v1" "$BasicHost/index/dup:v1" -ErrorVariable failed -ErrorAction SilentlyContinue
        $result | Should -BeNullOrEmpty
        $failed | Should -HaveCount 1
        $failed[0].FullyQualifiedErrorId | Should -BeLike 'DuplicatePlatform,*'
        $failed[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
        $failed[0].Exception.Message | Should -Match ([regex]::Escape("$Anon/index/amd64:v1"))
        $failed[0].Exception.Message | Should -Match ([regex]::Escape("$Anon/index/other:v1"))
        Get-Tags "$BasicHost/index/dup" $Creds | Should -BeNullOrEmpty
        Get-ImageManifest "$BasicHost/index/dup@$Amd64" -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }

    It 'shows with -WhatIf what would be copied and pushed, and changes nothing' {
        # What-if lines go to the host, not to a stream: a transcript records them.
        $transcript = Join-Path (New-MobyTempDirectory) 'whatif.txt'
        Start-Transcript -LiteralPath $transcript | Out-Null
        try { New-ImageIndex "$Anon/index/amd64:v1", "$BasicHost/index/arm64:v1" "$BasicHost/index/whatif:v1" -WhatIf | Should -BeNullOrEmpty }
        finally { Stop-Transcript | Out-Null }
        $out = Get-Content -LiteralPath $transcript -Raw
        $out | Should -Match 'What if: Build application/vnd.oci.image.index.v1\+json'
        $out | Should -Match "Copy +$Amd64 linux/amd64"
        $out | Should -Match "Copy +$Arm64 linux/arm64/v8"
        Get-Tags "$BasicHost/index/whatif" $Creds | Should -BeNullOrEmpty
        Get-ImageManifest "$BasicHost/index/whatif@$Amd64" -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }

    It 'names the missing image when a reference does not exist' {
        New-ImageIndex "$Anon/index/amd64:v1", "$Anon/index/amd64:nope" "$Anon/index/missing:v1" -ErrorVariable failed -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $failed[0].FullyQualifiedErrorId | Should -BeLike 'ImageNotFound,*'
        Get-Tags "$Anon/index/missing" | Should -BeNullOrEmpty
    }
}
