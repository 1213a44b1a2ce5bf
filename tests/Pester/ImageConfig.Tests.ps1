#Requires -Version 7.0
# Get-ImageConfig and Set-ImageConfig against real registries, checked with skopeo; and the retention recipe's binding.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-MobyModule
    $script:TestBed = Start-MobyTestBed
    $script:Image = New-MobyFixture -Layers 2 -Seed 91
    $script:Index = New-MobyFixture -Layers 1 -Seed 92 -Index
    $script:Reg = $TestBed.Anonymous.HostPort
    $script:ImageDigest = Publish-MobyFixture $Image $TestBed.Anonymous 'cfg/app' 'v1'
    Publish-MobyFixture $Image $TestBed.Anonymous 'cfg/app' 'v2' | Out-Null
    $script:IndexDigest = Publish-MobyFixture $Index $TestBed.Anonymous 'cfg/multi' 'all'
    $script:ConfigText = [Text.Encoding]::UTF8.GetString($Image.ReadBlob($Image.ConfigDigest))
    $script:Seed = ($ConfigText | ConvertFrom-Json).config.Labels.'moby.testbed.seed'

    function Invoke-Skopeo {
        $r = [MobyDistribution.TestBed.Skopeo]::Run([string[]] $args)
        $r.StandardOutput
    }

    function Get-SkopeoConfig([string] $Reference) { Invoke-Skopeo inspect --config --raw --tls-verify=false --no-creds "docker://$Reference" }

    function Get-SkopeoManifest([string] $Reference) { Invoke-Skopeo inspect --raw --tls-verify=false --no-creds "docker://$Reference" }

    # The text with one occurrence of $Old replaced: the fixture must still read as the edit describes it.
    function Edit-Once([string] $Text, [string] $Old, [string] $New) {
        $at = $Text.IndexOf($Old, [StringComparison]::Ordinal)
        $at | Should -BeGreaterOrEqual 0 -Because "'$Old' is in the fixture's config"
        $Text.IndexOf($Old, $at + 1, [StringComparison]::Ordinal) | Should -Be -1
        $Text.Substring(0, $at) + $New + $Text.Substring($at + $Old.Length)
    }
}

AfterAll {
    Remove-MobyTempDirectory
    $TestBed.Dispose()
    $Image.Dispose()
    $Index.Dispose()
}

Describe 'Get-ImageConfig' {
    It 'reads the config of a single image, exactly, as a MobyDistribution.ImageConfig' {
        $config = @(Get-ImageConfig "$Reg/cfg/app:v1")
        $config | Should -HaveCount 1
        $config[0].PSObject.TypeNames[0] | Should -Be 'MobyDistribution.ImageConfig'
        $config[0].Reference.ToString() | Should -Be "$Reg/cfg/app:v1"
        $config[0].Tag | Should -Be 'v1'
        $config[0].ManifestDigest.ToString() | Should -Be $ImageDigest
        $config[0].Digest.ToString() | Should -Be $Image.ConfigDigest
        $config[0].Raw | Should -BeExactly $ConfigText
        $config[0].Raw | Should -BeExactly (Get-SkopeoConfig "$Reg/cfg/app:v1")
        $config[0].Created | Should -BeOfType ([DateTimeOffset])
        $config[0].Created | Should -Be ([DateTimeOffset]::Parse('2024-01-02T03:04:05Z'))
        $config[0].Labels['moby.testbed.seed'] | Should -Be $Seed
        $config[0].Command | Should -Be @('/bin/sh')
        "$($config[0].Platform)" | Should -Be 'linux/amd64'
        @($config[0].DiffIds | ForEach-Object ToString) | Should -Be $Image.DiffIds
        $config[0].History | Should -HaveCount 2
    }

    It 'names the tag latest for a reference without tag or digest' {
        Publish-MobyFixture $Image $TestBed.Anonymous 'cfg/plain' 'latest' | Out-Null
        $config = Get-ImageConfig "$Reg/cfg/plain"
        $config.Tag | Should -Be 'latest'
        $config.Reference.ToString() | Should -Be "$Reg/cfg/plain:latest"
    }

    It 'gives one object per platform of an index, in its order' {
        $configs = @(Get-ImageConfig "$Reg/cfg/multi:all")
        $configs | Should -HaveCount 2
        @($configs | ForEach-Object { "$($_.Platform)" }) | Should -Be @($Index.Manifests | ForEach-Object Platform)
        @($configs | ForEach-Object { "$($_.ManifestDigest)" }) | Should -Be @($Index.Manifests | ForEach-Object Digest)
        @($configs | ForEach-Object { "$($_.Digest)" }) | Should -Be @($Index.Manifests | ForEach-Object ConfigDigest)
        $configs | ForEach-Object { $_.Reference.ToString() | Should -Be "$Reg/cfg/multi:all" }
    }

    It 'takes tags from Get-RegistryTag and manifests from Get-ImageManifest' {
        $byTag = @(Get-RegistryTag "$Reg/cfg/app" | Get-ImageConfig | Sort-Object Tag)
        @($byTag | ForEach-Object Tag) | Should -Be @('v1', 'v2')
        $byTag | ForEach-Object { "$($_.Digest)" | Should -Be $Image.ConfigDigest }
        $arm = $Index.Manifests | Where-Object Architecture -EQ 'arm64'
        $byManifest = @(Get-ImageManifest "$Reg/cfg/multi:all" -Platform linux/arm64 | Get-ImageConfig)
        $byManifest | Should -HaveCount 1
        "$($byManifest[0].ManifestDigest)" | Should -Be $arm.Digest
        "$($byManifest[0].Digest)" | Should -Be $arm.ConfigDigest
        # Read by digest: the reference is the manifest's, pinned to it.
        $byManifest[0].Reference.ToString() | Should -Be "$Reg/cfg/multi@$($arm.Digest)"
    }

    It 'reads one platform with -Platform, and a platform the index lacks is PlatformNotFound' {
        $amd = @(Get-ImageConfig "$Reg/cfg/multi:all" -Platform linux/amd64)
        $amd | Should -HaveCount 1
        "$($amd[0].Platform)" | Should -Be 'linux/amd64'
        $result = Get-ImageConfig "$Reg/cfg/multi:all", "$Reg/cfg/app:v1" -Platform linux/s390x -ErrorVariable failed -ErrorAction SilentlyContinue
        $failed | Should -HaveCount 1
        $failed[0].FullyQualifiedErrorId | Should -Be 'PlatformNotFound,MobyDistribution.PowerShell.Commands.GetImageConfigCommand'
        $failed[0].Exception.Message | Should -Match 'linux/amd64, linux/arm64/v8'
        # The single image is read whatever its platform; the failure did not stop it.
        @($result) | Should -HaveCount 1
        "$($result.Digest)" | Should -Be $Image.ConfigDigest
    }

    It 'has a table view that fits 80 columns, and a list view' {
        $table = Get-ImageConfig "$Reg/cfg/multi:all" | Format-Table | Out-String -Width 80
        $lines = $table -split "`r?`n" | Where-Object { $_.Trim() }
        $lines[0] | Should -Match '^Reference\s+Platform\s+Created\s+Config'
        $lines | ForEach-Object { $_.TrimEnd().Length | Should -BeLessOrEqual 80 }
        $table | Should -Match 'linux/arm64/v8\s+2024-01-02 03:04\s+sha256:[0-9a-f]{12}'
        $list = Get-ImageConfig "$Reg/cfg/app:v1" | Format-List | Out-String -Width 200
        $list | Should -Match "Digest\s+: $([regex]::Escape($Image.ConfigDigest))"
        $list | Should -Match "moby\.testbed\.seed = $Seed"
    }
}

Describe 'Set-ImageConfig' {
    It 'changes exactly the fields asked for, and skopeo reads the new config and manifest' {
        $result = Set-ImageConfig -Reference "$Reg/cfg/app:v1" -Destination "$Reg/cfg/edited" -Label @{ 'team' = 'ops' } -RemoveLabel 'org.opencontainers.image.title' `
            -Entrypoint '/app/run', '--serve' -WorkingDirectory '/app'
        $result | Should -BeOfType ([MobyDistribution.Descriptor])
        $result.Source.ToString() | Should -Be "$Reg/cfg/edited:v1@$($result.Digest)"

        $expected = Edit-Once $ConfigText '"org.opencontainers.image.title":"moby-testbed-fixture",' ''
        $expected = Edit-Once $expected ('"moby.testbed.seed":"{0}"}}' -f $Seed) ('"moby.testbed.seed":"{0}","team":"ops"}},"Entrypoint":["/app/run","--serve"],"WorkingDir":"/app"' -f $Seed)
        $after = Get-SkopeoConfig "$Reg/cfg/edited:v1"
        $after | Should -BeExactly $expected
        (Get-ImageConfig "$Reg/cfg/edited:v1").Raw | Should -BeExactly $expected

        $manifest = Get-SkopeoManifest "$Reg/cfg/edited:v1" | ConvertFrom-Json
        $manifest.config.digest | Should -Be ('sha256:' + [Convert]::ToHexString([Security.Cryptography.SHA256]::HashData([Text.Encoding]::UTF8.GetBytes($after))).ToLowerInvariant())
        @($manifest.layers.digest) | Should -Be @($Image.Layers | ForEach-Object Digest)
        [MobyDistribution.TestBed.Skopeo]::Digest("docker://$Reg/cfg/edited:v1", [NullString]::Value) | Should -Be "$($result.Digest)"
        # skopeo checks every blob against its digest as it copies.
        $dir = Join-Path (New-MobyTempDirectory) 'oci'
        Invoke-Skopeo copy --src-tls-verify=false --src-no-creds "docker://$Reg/cfg/edited:v1" "oci:${dir}:x" | Out-Null
        Test-Path (Join-Path $dir 'index.json') | Should -BeTrue
    }

    It 'rewrites only the -Platform images of an index, keeping the others'' digests and the index''s media type' {
        $result = Set-ImageConfig "$Reg/cfg/multi:all" "$Reg/cfg/multi-edited" -Platform linux/arm64 -User '1000:1000' -Annotation @{ 'org.example.note' = 'edited' }
        $result.MediaType | Should -Be 'application/vnd.oci.image.index.v1+json'
        $newIndex = Get-SkopeoManifest "$Reg/cfg/multi-edited:all" | ConvertFrom-Json
        $newIndex.mediaType | Should -Be 'application/vnd.oci.image.index.v1+json'
        $amd = $Index.Manifests | Where-Object Architecture -EQ 'amd64'
        $arm = $Index.Manifests | Where-Object Architecture -EQ 'arm64'
        ($newIndex.manifests | Where-Object { $_.platform.architecture -eq 'amd64' }).digest | Should -Be $amd.Digest
        $newArm = ($newIndex.manifests | Where-Object { $_.platform.architecture -eq 'arm64' }).digest
        $newArm | Should -Not -Be $arm.Digest
        (Get-SkopeoManifest "$Reg/cfg/multi-edited@$newArm" | ConvertFrom-Json).annotations.'org.example.note' | Should -Be 'edited'
        (Get-SkopeoConfig "$Reg/cfg/multi-edited@$newArm" | ConvertFrom-Json).config.User | Should -Be '1000:1000'
        $dir = Join-Path (New-MobyTempDirectory) 'oci'
        Invoke-Skopeo copy --all --src-tls-verify=false --src-no-creds "docker://$Reg/cfg/multi-edited:all" "oci:${dir}:x" | Out-Null
    }

    It 'takes tags from Get-RegistryTag, each pushed under its own tag' {
        $results = @(Get-RegistryTag "$Reg/cfg/app" | Set-ImageConfig -Destination "$Reg/cfg/dated" -Created '2025-01-01T00:00:00Z')
        $results | Should -HaveCount 2
        @((Get-RegistryTag "$Reg/cfg/dated").Tag | Sort-Object) | Should -Be @('v1', 'v2')
        $configs = @(Get-ImageConfig "$Reg/cfg/dated:v1", "$Reg/cfg/dated:v2")
        $configs | ForEach-Object { $_.Created | Should -Be ([DateTimeOffset]::Parse('2025-01-01T00:00:00Z')) }
        # Only created changed: the history keeps its times.
        $configs[0].Raw | Should -BeExactly (Edit-Once $ConfigText '"created":"2024-01-02T03:04:05Z","architecture"' '"created":"2025-01-01T00:00:00Z","architecture"')
    }

    It 'pushes nothing with -WhatIf' {
        Set-ImageConfig "$Reg/cfg/app:v1" "$Reg/cfg/whatif" -Label @{ a = 'b' } -WhatIf | Should -BeNullOrEmpty
        Get-RegistryTag "$Reg/cfg/whatif" -ErrorAction SilentlyContinue -ErrorVariable missing | Should -BeNullOrEmpty
        $missing[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }

    It 'refuses annotations on a Docker schema2 image, and a platform the index lacks, pushing nothing' {
        Publish-MobyFixture $Image $TestBed.Anonymous 'cfg/docker' 'v1' 'v2s2' | Out-Null
        Set-ImageConfig "$Reg/cfg/docker:v1" "$Reg/cfg/docker:annotated" -Annotation @{ a = 'b' } -ErrorVariable failed -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $failed[0].FullyQualifiedErrorId | Should -Be 'InvalidArgument,MobyDistribution.PowerShell.Commands.SetImageConfigCommand'
        Set-ImageConfig "$Reg/cfg/multi:all" "$Reg/cfg/docker:annotated" -Platform linux/s390x -User x -ErrorVariable missing -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $missing[0].FullyQualifiedErrorId | Should -Be 'PlatformNotFound,MobyDistribution.PowerShell.Commands.SetImageConfigCommand'
        (Get-RegistryTag "$Reg/cfg/docker").Tag | Should -Be @('v1')
    }
}

Describe 'The retention recipe' {
    BeforeAll {
        # Two images in one repository: one made in 2020, one now.
        Set-ImageConfig "$Reg/cfg/app:v1" "$Reg/cfg/retain:old" -Created '2020-01-01T00:00:00Z' | Out-Null
        Set-ImageConfig "$Reg/cfg/app:v1" "$Reg/cfg/retain:new" -Created ([DateTimeOffset]::UtcNow) | Out-Null
    }

    It 'binds image configs to Remove-RegistryTag: -WhatIf removes nothing, then only the old tag goes' {
        $old = { Get-RegistryTag "$Reg/cfg/retain" | Get-ImageConfig | Where-Object Created -lt (Get-Date).AddDays(-90) }
        @(& $old) | Should -HaveCount 1
        & $old | Remove-RegistryTag -WhatIf -ErrorVariable failed
        $failed | Should -BeNullOrEmpty
        # What -WhatIf says goes to the host: a fresh pwsh shows it names the old tag only.
        $command = Get-MobyPwshCommand
        $script = "Import-Module '$(Get-MobyModulePath)'; Get-RegistryTag '$Reg/cfg/retain' | Get-ImageConfig | " +
            "Where-Object Created -lt (Get-Date).AddDays(-90) | Remove-RegistryTag -WhatIf"
        $output = (& $command[0] @(@($command | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive', '-Command', $script)) 2>&1) -join "`n"
        $LASTEXITCODE | Should -Be 0 -Because $output
        $output | Should -Match ([regex]::Escape("What if:") + '.*' + [regex]::Escape("$Reg/cfg/retain:old"))
        $output | Should -Not -Match ([regex]::Escape("$Reg/cfg/retain:new"))
        @((Get-RegistryTag "$Reg/cfg/retain").Tag | Sort-Object) | Should -Be @('new', 'old')
        $removed = & $old | Remove-RegistryTag -Confirm:$false -PassThru -WarningAction SilentlyContinue
        @($removed.Tag) | Should -Be @('old')
        @((Get-RegistryTag "$Reg/cfg/retain").Tag) | Should -Be @('new')
    }

    It 'binds image configs to Copy-RegistryImage, which copies the image they belong to' {
        $copy = Get-ImageConfig "$Reg/cfg/retain:new" | Copy-RegistryImage -Destination "$Reg/cfg/archive"
        $copy.Reference.ToString() | Should -BeLike "$Reg/cfg/archive:new@sha256:*"
        [MobyDistribution.TestBed.Skopeo]::Digest("docker://$Reg/cfg/archive:new", [NullString]::Value) | Should -Be "$($copy.Digest)"
    }
}
