#Requires -Version 7.0
# Get-ImageReferrer against the real registry (no referrers API: the tag schema) and through the test bed's proxy that
# serves the API from the registry's storage. The referrers are hand-written JSON pushed with curl, not by the module.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-MobyModule
    $script:TestBed = Start-MobyTestBed
    $script:Anonymous = $TestBed.Anonymous
    $script:Registry = $Anonymous.HostPort
    $script:Proxy = [MobyDistribution.TestBed.FaultProxy]::StartWithReferrersApi($Anonymous, 0)
    $script:Work = New-MobyTempDirectory
    $script:EmptyDigest = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a'

    # curl: an independent client. A blob is POST + PUT ?digest=; a manifest a PUT of the exact bytes.
    function script:Push-CurlBlob([string] $HostPort, [string] $Repository, [byte[]] $Bytes) {
        $file = Join-Path $Work ([guid]::NewGuid().ToString('N'))
        [IO.File]::WriteAllBytes($file, $Bytes)
        $digest = Get-MobySha256 $file
        $headers = & curl -s -o /dev/null -D - -X POST "http://$HostPort/v2/$Repository/blobs/uploads/"
        $location = ($headers | Where-Object { $_ -match '^Location:' }) -replace '^Location:\s*', '' -replace '\s+$', ''
        if ($location -notmatch '^http') { $location = "http://$HostPort$location" }
        $sep = if ($location.Contains('?')) { '&' } else { '?' }
        $code = & curl -s -o /dev/null -w '%{http_code}' -X PUT --data-binary "@$file" -H 'Content-Type: application/octet-stream' "$location${sep}digest=$digest"
        if ($code -ne '201') { throw "blob PUT answered $code" }
        return $digest
    }
    function script:Push-CurlManifest([string] $HostPort, [string] $Repository, [string] $Json, [string] $Tag) {
        $bytes = [Text.Encoding]::UTF8.GetBytes($Json)
        $file = Join-Path $Work ([guid]::NewGuid().ToString('N'))
        [IO.File]::WriteAllBytes($file, $bytes)
        $digest = Get-MobySha256 $file
        $mediaType = ($Json | ConvertFrom-Json).mediaType
        $ref = if ($Tag) { $Tag } else { $digest }
        $code = & curl -s -o /dev/null -w '%{http_code}' -X PUT --data-binary "@$file" -H "Content-Type: $mediaType" "http://$HostPort/v2/$Repository/manifests/$ref"
        if ($code -ne '201') { throw "manifest PUT answered $code" }
        return [pscustomobject]@{ Digest = $digest; Size = $bytes.Length; MediaType = $mediaType }
    }
    function script:Push-CurlImage([string] $Repository, [int] $Seed, [string] $Tag) {
        $config = Push-CurlBlob $Registry $Repository ([Text.Encoding]::UTF8.GetBytes('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'))
        $layerBytes = [byte[]]::new(64 + $Seed); [Random]::new($Seed).NextBytes($layerBytes)
        $layer = Push-CurlBlob $Registry $Repository $layerBytes
        $json = '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"' + $config + '","size":78},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"' + $layer + '","size":' + $layerBytes.Length + '}]}'
        return Push-CurlManifest $Registry $Repository $json $Tag
    }
    function script:Push-CurlArtifact([string] $Repository, [string] $ArtifactType, $Subject, [string] $Payload, [string] $Tag) {
        $null = Push-CurlBlob $Registry $Repository ([Text.Encoding]::UTF8.GetBytes('{}'))
        $data = [Text.Encoding]::UTF8.GetBytes($Payload)
        $blob = Push-CurlBlob $Registry $Repository $data
        $subjectJson = if ($Subject) { ',"subject":{"mediaType":"' + $Subject.MediaType + '","digest":"' + $Subject.Digest + '","size":' + $Subject.Size + '}' } else { '' }
        $json = '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"' + $ArtifactType + '","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"' + $EmptyDigest + '","size":2},"layers":[{"mediaType":"text/plain","digest":"' + $blob + '","size":' + $data.Length + ',"annotations":{"org.opencontainers.image.title":"' + $Payload + '.txt"}}]' + $subjectJson + '}'
        return Push-CurlManifest $Registry $Repository $json $Tag
    }
    function script:Push-CurlIndex([string] $Repository, [string] $Tag, [string[]] $Descriptors) {
        $json = '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[' + ($Descriptors -join ',') + ']}'
        return Push-CurlManifest $Registry $Repository $json $Tag
    }
    function script:Get-Descriptor($Pushed, [string] $ArtifactType) {
        $d = '{"mediaType":"' + $Pushed.MediaType + '","digest":"' + $Pushed.Digest + '","size":' + $Pushed.Size
        if ($ArtifactType) { $d += ',"artifactType":"' + $ArtifactType + '"' }
        return $d + '}'
    }

    # app:v1 with an SBOM (tag schema), a signature on the SBOM (tag schema) and a cosign .sig tag.
    $script:Image = Push-CurlImage 'app' 1 'v1'
    $script:Sbom = Push-CurlArtifact 'app' 'application/spdx+json' $Image 'sbom'
    $script:SbomSig = Push-CurlArtifact 'app' 'application/vnd.example.signature' $Sbom 'sbom-sig'
    $script:Cosign = Push-CurlArtifact 'app' 'application/vnd.dev.cosign.artifact.sig.v1+json' $null 'cosign' ($Image.Digest.Replace(':', '-') + '.sig')
    $null = Push-CurlIndex 'app' $Image.Digest.Replace(':', '-') @(Get-Descriptor $Sbom 'application/spdx+json')
    $null = Push-CurlIndex 'app' $Sbom.Digest.Replace(':', '-') @(Get-Descriptor $SbomSig 'application/vnd.example.signature')
}

AfterAll {
    $Proxy.Dispose()
    Remove-MobyTempDirectory
    $TestBed.Dispose()
}

Describe 'Get-ImageReferrer' {
    It 'reads the tag schema and cosign tags where the registry has no referrers API' {
        $found = @(Get-ImageReferrer "$Registry/app:v1")
        $found.Count | Should -Be 2
        $found[0] | Should -BeOfType ([MobyDistribution.Operations.ImageReferrer])
        $sbom = $found | Where-Object Kind -EQ 'TagSchema'
        $sbom.Digest.ToString() | Should -Be $Sbom.Digest
        $sbom.ArtifactType | Should -Be 'application/spdx+json'
        $sbom.Subject.Digest.ToString() | Should -Be $Image.Digest
        $sbom.Reference.ToString() | Should -Be "$Registry/app@$($Sbom.Digest)"
        $sig = $found | Where-Object Kind -EQ 'CosignTag'
        $sig.Digest.ToString() | Should -Be $Cosign.Digest
        $sig.Tag | Should -Be ($Image.Digest.Replace(':', '-') + '.sig')
    }

    It 'walks referrers of referrers with -Recurse, and filters by -ArtifactType' {
        $all = @(Get-ImageReferrer "$Registry/app:v1" -Recurse)
        $all.Digest.ForEach({ $_.ToString() }) | Should -Contain $SbomSig.Digest
        ($all | Where-Object { $_.Digest.ToString() -eq $SbomSig.Digest }).Depth | Should -Be 1
        $signatures = @(Get-ImageReferrer "$Registry/app:v1" -Recurse -ArtifactType application/vnd.example.signature)
        $signatures.Count | Should -Be 1
        $signatures[0].Subject.Digest.ToString() | Should -Be $Sbom.Digest
        @(Get-ImageReferrer "$Registry/app:v1" -ArtifactType application/vnd.example.signature).Count | Should -Be 0
    }

    It 'asks the referrers API where the registry has one' {
        # Through the proxy the same repository has the API: the SBOM is found from the registry's data (Kind Referrer).
        $found = @(Get-ImageReferrer "$($Proxy.HostPort)/app:v1" -Verbose 4>&1)
        $verbose = $found | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }
        $referrers = @($found | Where-Object { $_ -is [MobyDistribution.Operations.ImageReferrer] })
        ($verbose.Message -join "`n") | Should -Match 'referrers API'
        ($referrers | Where-Object Kind -EQ 'Referrer').Digest.ToString() | Should -Be $Sbom.Digest
        ($referrers | Where-Object Kind -EQ 'CosignTag').Digest.ToString() | Should -Be $Cosign.Digest
        $Proxy.ReferrersAnswered | Should -BeGreaterThan 0
    }

    It 'pipes referrers to Get-ImageManifest (and on to Save-ImageBlob) and to Get-ImageReferrer' {
        $sbom = Get-ImageReferrer "$Registry/app:v1" -ArtifactType application/spdx+json
        $manifest = $sbom | Get-ImageManifest
        $manifest.Digest.ToString() | Should -Be $Sbom.Digest
        $manifest.Subject.Digest.ToString() | Should -Be $Image.Digest

        # The artifact's files are its manifest's layers: Get-ImageManifest, then Save-ImageBlob.
        $folder = New-MobyTempDirectory
        $files = @($sbom | Get-ImageManifest | Save-ImageBlob -Path $folder -PassThru)
        $files.Count | Should -Be 2
        $payload = 'sha256-' + [Convert]::ToHexString([Security.Cryptography.SHA256]::HashData([Text.Encoding]::UTF8.GetBytes('sbom'))).ToLowerInvariant()
        $files.Name | Should -Contain $payload
        Get-Content -Raw -LiteralPath (Join-Path $folder $payload) | Should -Be 'sbom'

        $next = @($sbom | Get-ImageReferrer)
        $next.Digest.ToString() | Should -Be $SbomSig.Digest
    }

    It 'reports a missing image as ManifestNotFound' {
        Get-ImageReferrer "$Registry/app:missing" -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -BeLike 'ManifestNotFound*'
    }
}

Describe 'Publish-ImageArtifact and Save-ImageArtifact' {
    BeforeAll {
        $script:Files = New-MobyTempDirectory
        Set-Content -LiteralPath (Join-Path $Files 'sbom.spdx.json') -Value '{"spdxVersion":"SPDX-2.3"}' -NoNewline
        Set-Content -LiteralPath (Join-Path $Files 'notes.txt') -Value 'notes' -NoNewline
        $script:Target = Push-CurlImage 'attach' 2 'v1'
    }

    It 'attaches an SBOM to an image, keeps the tag-schema index, and reads it back under its titles' {
        $d = Publish-ImageArtifact -Path (Join-Path $Files 'sbom.spdx.json'), (Join-Path $Files 'notes.txt') -ArtifactType application/spdx+json `
            -MediaType application/spdx+json, text/plain -Subject "$Registry/attach:v1" -Annotation @{ 'org.example.kind' = 'sbom' }
        $d | Should -BeOfType ([MobyDistribution.Descriptor])
        $d.ArtifactType | Should -Be 'application/spdx+json'

        # skopeo and curl, independent readers: the manifest and the index under sha256-<hex>.
        $raw = & skopeo inspect --raw --tls-verify=false "docker://$Registry/attach@$($d.Digest)" | ConvertFrom-Json
        $raw.artifactType | Should -Be 'application/spdx+json'
        $raw.config.digest | Should -Be $EmptyDigest
        $raw.subject.digest | Should -Be $Target.Digest
        $raw.layers.annotations.'org.opencontainers.image.title' | Should -Be @('sbom.spdx.json', 'notes.txt')
        $raw.layers.mediaType | Should -Be @('application/spdx+json', 'text/plain')
        $raw.annotations.'org.example.kind' | Should -Be 'sbom'
        $index = & curl -s -H 'Accept: application/vnd.oci.image.index.v1+json' "http://$Registry/v2/attach/manifests/$($Target.Digest.Replace(':', '-'))" | ConvertFrom-Json
        $index.manifests.digest | Should -Contain $d.Digest.ToString()

        (Get-ImageReferrer "$Registry/attach:v1" -ArtifactType application/spdx+json).Digest | Should -Be $d.Digest

        $out = Join-Path (New-MobyTempDirectory) 'sbom'
        $saved = @(Get-ImageReferrer "$Registry/attach:v1" -ArtifactType application/spdx+json | Save-ImageArtifact -Path $out -PassThru)
        $saved.Name | Should -Be @('sbom.spdx.json', 'notes.txt')
        Get-Content -Raw -LiteralPath (Join-Path $out 'sbom.spdx.json') | Should -Be '{"spdxVersion":"SPDX-2.3"}'
        Get-Content -Raw -LiteralPath (Join-Path $out 'notes.txt') | Should -Be 'notes'

        # A second save without -Force writes nothing and says why.
        Save-ImageArtifact "$Registry/attach@$($d.Digest)" -Path $out -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'DestinationExists*'
    }

    It 'pushes a standalone artifact under its tag and round-trips it through the pipeline' {
        $out = New-MobyTempDirectory
        # A folder piped in among the files is reported and left out.
        $sub = New-Item -ItemType Directory -Path (Join-Path $Files 'sub') -Force
        $d = @($sub, (Get-Item (Join-Path $Files 'notes.txt'))) | Publish-ImageArtifact -ArtifactType text/plain -Destination "$Registry/standalone:v1" -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'PathIsFolder*'
        $d.Source.ToString() | Should -Be "$Registry/standalone:v1@$($d.Digest)"
        (& skopeo inspect --raw --tls-verify=false "docker://$Registry/standalone:v1" | ConvertFrom-Json).artifactType | Should -Be 'text/plain'
        $d | Save-ImageArtifact -Path $out
        Get-Content -Raw -LiteralPath (Join-Path $out 'notes.txt') | Should -Be 'notes'
    }

    It 'keeps every attach of parallel runspaces in the tag-schema index' {
        $image = Push-CurlImage 'race' 3 'v1'
        $module = Get-MobyModulePath
        $paths = 1..5 | ForEach-Object { $p = Join-Path $Files "sig-$_.txt"; Set-Content -LiteralPath $p -Value "signature $_" -NoNewline; $p }
        $digests = $paths | ForEach-Object -ThrottleLimit 5 -Parallel {
            Import-Module $using:module
            (Publish-ImageArtifact -Path $_ -ArtifactType application/vnd.example.signature -Subject "$($using:Registry)/race:v1").Digest.ToString()
        }
        $digests.Count | Should -Be 5
        $index = & curl -s -H 'Accept: application/vnd.oci.image.index.v1+json' "http://$Registry/v2/race/manifests/$($image.Digest.Replace(':', '-'))" | ConvertFrom-Json
        @($index.manifests.digest | Sort-Object) | Should -Be @($digests | Sort-Object)
        @(Get-ImageReferrer "$Registry/race:v1").Count | Should -Be 5
    }

    It 'refuses a hostile title and writes nothing' {
        $blob = Push-CurlBlob $Registry 'hostile' ([Text.Encoding]::UTF8.GetBytes('pwned'))
        $null = Push-CurlBlob $Registry 'hostile' ([Text.Encoding]::UTF8.GetBytes('{}'))
        $ok = Push-CurlBlob $Registry 'hostile' ([Text.Encoding]::UTF8.GetBytes('fine'))
        $json = '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"x/y","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"' + $EmptyDigest + '","size":2},"layers":[' +
            '{"mediaType":"text/plain","digest":"' + $ok + '","size":4,"annotations":{"org.opencontainers.image.title":"fine.txt"}},' +
            '{"mediaType":"text/plain","digest":"' + $blob + '","size":5,"annotations":{"org.opencontainers.image.title":"../escaped.sh"}}]}'
        $null = Push-CurlManifest $Registry 'hostile' $json 'evil'
        $root = New-MobyTempDirectory
        $out = Join-Path $root 'inner'
        Save-ImageArtifact "$Registry/hostile:evil" -Path $out -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'ArtifactInvalid*'
        Test-Path (Join-Path $root 'escaped.sh') | Should -BeFalse
        Test-Path (Join-Path $out 'fine.txt') | Should -BeFalse
    }

    It 'needs a subject or a destination' {
        { Publish-ImageArtifact -Path (Join-Path $Files 'notes.txt') -ArtifactType text/plain -ErrorAction Stop } |
            Should -Throw -ErrorId 'ArtifactTargetMissing*'
    }

    It 'does nothing with -WhatIf' {
        Publish-ImageArtifact -Path (Join-Path $Files 'notes.txt') -ArtifactType text/plain -Destination "$Registry/whatif:v1" -WhatIf
        & curl -s -o /dev/null -w '%{http_code}' -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$Registry/v2/whatif/manifests/v1" | Should -Be '404'
    }
}

Describe 'Copy-RegistryImage -IncludeReferrers' {
    It 'lists the referrers that would travel with -WhatIf, and copies nothing' {
        # -WhatIf writes to the host, so a child pwsh runs it and its output is read.
        $pwsh = @(Get-MobyPwshCommand)
        $script = "Import-Module '$(Get-MobyModulePath)'; Copy-RegistryImage '$Registry/app:v1' '$Registry/mirror-whatif:v1' -IncludeReferrers -WhatIf"
        $out = & $pwsh[0] @($pwsh | Select-Object -Skip 1) -NoProfile -NonInteractive -Command $script 2>&1 | Out-String
        foreach ($d in $Sbom.Digest, $SbomSig.Digest, $Cosign.Digest) { $out | Should -Match ([regex]::Escape("Referrer $d")) }
        & curl -s -o /dev/null -w '%{http_code}' "http://$Registry/v2/mirror-whatif/tags/list" | Should -Be '404'
    }

    It 'copies a signed image with its referrers, digest for digest, and writes the tag-schema indexes' {
        $copied = @(Copy-RegistryImage "$Registry/app:v1" "$Registry/mirror:v1" -IncludeReferrers)
        $copied.Count | Should -Be 4
        $copied[0].Digest.ToString() | Should -Be $Image.Digest
        foreach ($d in $Sbom.Digest, $SbomSig.Digest, $Cosign.Digest) {
            $raw = & skopeo inspect --raw --tls-verify=false "docker://$Registry/mirror@$d"
            $bytes = [Text.Encoding]::UTF8.GetBytes(($raw -join "`n"))
            'sha256:' + [Convert]::ToHexString([Security.Cryptography.SHA256]::HashData($bytes)).ToLowerInvariant() | Should -Be $d
        }
        $index = & curl -s -H 'Accept: application/vnd.oci.image.index.v1+json' "http://$Registry/v2/mirror/manifests/$($Image.Digest.Replace(':', '-'))" | ConvertFrom-Json
        $index.manifests.digest | Should -Be @($Sbom.Digest)
        $sbomIndex = & curl -s -H 'Accept: application/vnd.oci.image.index.v1+json' "http://$Registry/v2/mirror/manifests/$($Sbom.Digest.Replace(':', '-'))" | ConvertFrom-Json
        $sbomIndex.manifests.digest | Should -Be @($SbomSig.Digest)
        $found = @(Get-ImageReferrer "$Registry/mirror:v1" -Recurse)
        @($found.Digest.ForEach({ $_.ToString() }) | Sort-Object) | Should -Be @(($Sbom.Digest, $SbomSig.Digest, $Cosign.Digest) | Sort-Object)
    }
}

Describe 'Export-DockerImage -IncludeReferrers' {
    BeforeAll {
        function script:Get-LayoutIndex([string] $Dir) { Get-Content -Raw (Join-Path $Dir 'index.json') | ConvertFrom-Json }
        function script:Get-LayoutBlob([string] $Dir, [string] $Digest) { Join-Path $Dir 'blobs' 'sha256' $Digest.Substring(7) }
    }

    It 'lists the referrers that would be written with -WhatIf, and writes nothing' {
        $out = Join-Path $Work 'export-whatif'
        $pwsh = @(Get-MobyPwshCommand)
        $script = "Import-Module '$(Get-MobyModulePath)'; Export-DockerImage '$Registry/app:v1' '$out' -Format OciLayout -IncludeReferrers -WhatIf"
        $text = & $pwsh[0] @($pwsh | Select-Object -Skip 1) -NoProfile -NonInteractive -Command $script 2>&1 | Out-String
        foreach ($d in $Sbom.Digest, $SbomSig.Digest, $Cosign.Digest) { $text | Should -Match ([regex]::Escape("Referrer $d")) }
        $text | Should -Match 'with 3 referrers'
        Test-Path $out | Should -BeFalse
    }

    It 'writes the referrers graph into the layout: blobs by digest, index.json entries with artifactType and no name but the cosign tag' {
        $out = Join-Path $Work 'export-referrers'
        Export-DockerImage "$Registry/app:v1" $out -Format OciLayout -IncludeReferrers
        $index = Get-LayoutIndex $out
        $index.manifests.Count | Should -Be 4
        $index.manifests[0].digest | Should -Be $Image.Digest
        foreach ($r in @(@{ P = $Sbom; T = 'application/spdx+json' }, @{ P = $SbomSig; T = 'application/vnd.example.signature' },
                @{ P = $Cosign; T = 'application/vnd.dev.cosign.artifact.sig.v1+json' })) {
            $entry = $index.manifests | Where-Object digest -EQ $r.P.Digest
            $entry.artifactType | Should -Be $r.T
            $entry.size | Should -Be $r.P.Size
            $file = Get-LayoutBlob $out $r.P.Digest
            Get-MobySha256 $file | Should -Be $r.P.Digest
            $manifest = Get-Content -Raw $file | ConvertFrom-Json
            foreach ($b in @($manifest.config) + @($manifest.layers)) { Get-MobySha256 (Get-LayoutBlob $out $b.digest) | Should -Be $b.digest }
        }
        $cosignTag = $Image.Digest.Replace(':', '-') + '.sig'
        ($index.manifests | Where-Object digest -EQ $Cosign.Digest).annotations.'org.opencontainers.image.ref.name' | Should -Be $cosignTag
        # The SBOM's manifest has no annotations, so its entry has none (and so no name).
        ($index.manifests | Where-Object digest -EQ $Sbom.Digest).PSObject.Properties.Name | Should -Not -Contain 'annotations'
        # skopeo, an independent reader, still finds the image by its name, and the cosign signature by its tag.
        $raw = & skopeo inspect --raw "oci:${out}:v1"
        $LASTEXITCODE | Should -Be 0
        & skopeo inspect --raw "oci:${out}:$cosignTag" | Out-Null
        $LASTEXITCODE | Should -Be 0
    }

    It 'writes no referrer without the switch' {
        $out = Join-Path $Work 'export-plain'
        Export-DockerImage "$Registry/app:v1" $out -Format OciLayout
        @((Get-LayoutIndex $out).manifests).Count | Should -Be 1
        Test-Path (Get-LayoutBlob $out $Sbom.Digest) | Should -BeFalse
    }

    It 'refuses a docker archive with IncludeReferrersNeedsOciLayout, writing nothing' {
        $out = Join-Path $Work 'export-referrers.tar'
        Export-DockerImage "$Registry/app:v1" $out -IncludeReferrers -ErrorVariable err -ErrorAction SilentlyContinue
        $err.Count | Should -Be 1
        $err[0].FullyQualifiedErrorId | Should -BeLike 'IncludeReferrersNeedsOciLayout*'
        $err[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
        Test-Path $out | Should -BeFalse
    }
}
