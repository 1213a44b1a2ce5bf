#Requires -Version 7.0
# Sessions, catalog and tags against a real registry (distribution), images pushed by skopeo.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-MobyModule
    $script:TestBed = Start-MobyTestBed
    $script:Image = New-MobyFixture -Layers 2 -Seed 11
    $script:Index = New-MobyFixture -Layers 1 -Seed 12 -Index
    $script:Anonymous = $TestBed.Anonymous
    $script:Registry = $Anonymous.HostPort
    $script:AppDigest = Publish-MobyFixture $Image $Anonymous 'team/app' 'v1'
    Publish-MobyFixture $Image $Anonymous 'team/app' 'v2' | Out-Null
    Publish-MobyFixture $Image $Anonymous 'team/app' 'stable' | Out-Null
    $script:MultiDigest = Publish-MobyFixture $Index $Anonymous 'multi' 'latest'
}

AfterAll {
    Remove-MobyTempDirectory
    Get-RegistrySession | Where-Object Registry -in $TestBed.All.HostPort | Disconnect-Registry
    $TestBed.Dispose()
    $Image.Dispose()
    $Index.Dispose()
}

Describe 'Connect-Registry, Get-RegistrySession, Disconnect-Registry' {
    It 'connects anonymously and lists the session without secrets' {
        $session = Connect-Registry -Registry $Registry -PassThru
        $session | Should -BeOfType ([MobyDistribution.Registry.RegistrySession])
        $session.Registry | Should -Be $Registry
        $session.IsConnected | Should -BeTrue

        $listed = Get-RegistrySession -Registry '127.0.0.1:*' | Where-Object Registry -eq $Registry
        $listed | Should -Not -BeNullOrEmpty
        $listed.PSObject.Properties.Name | Should -Not -Contain 'Password'
    }

    It 'disconnects, and a second disconnect is a RegistrySessionNotFound error' {
        Connect-Registry -Registry $Registry
        (Disconnect-Registry -Registry $Registry -PassThru).Registry | Should -Be $Registry
        Get-RegistrySession | Where-Object Registry -eq $Registry | Should -BeNullOrEmpty
        Disconnect-Registry -Registry $Registry -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'RegistrySessionNotFound,*'
        $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }

    It 'reports a name without wildcards that has no session' {
        Get-RegistrySession -Registry 'no-such-registry.example:1' -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -BeLike 'RegistrySessionNotFound,*'
    }
}

Describe 'Get-RegistryCatalog' {
    It 'lists the repositories as objects that carry a reference' {
        $repositories = Get-RegistryCatalog $Registry
        $repositories.Repository | Should -Be @('multi', 'team/app')
        $repositories[0] | Should -BeOfType ([MobyDistribution.PowerShell.RegistryRepository])
        $repositories[1].Reference.ToString() | Should -Be "$Registry/team/app"
        $repositories[1].Registry | Should -Be $Registry
    }

    It 'filters by wildcard' {
        (Get-RegistryCatalog $Registry -Name 'team/*').Repository | Should -Be 'team/app'
    }

    It 'reports a missing repository name as RepositoryNotFound' {
        Get-RegistryCatalog $Registry -Name 'nothing/here' -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -BeLike 'RepositoryNotFound,*'
        $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }
}

Describe 'Get-RegistryTag' {
    It 'lists the tags of a repository, sorted, with fully qualified references' {
        $tags = Get-RegistryTag "$Registry/team/app"
        $tags.Tag | Should -Be @('stable', 'v1', 'v2')
        $tags[0] | Should -BeOfType ([MobyDistribution.PowerShell.RegistryTag])
        $tags[1].Reference.ToString() | Should -Be "$Registry/team/app:v1"
        $tags[1].Repository | Should -Be 'team/app'
        $tags[1].Digest | Should -BeNullOrEmpty
    }

    It 'gets a named tag with its digest, media type and size' {
        $tag = Get-RegistryTag -Repository "$Registry/team/app" -Name v1
        $tag.Digest.ToString() | Should -Be $AppDigest
        $tag.MediaType | Should -Be 'application/vnd.oci.image.manifest.v1+json'
        $tag.Size | Should -BeGreaterThan 0
    }

    It 'takes the tag from a reference that has one' {
        (Get-RegistryTag "$Registry/team/app:v2").Digest.ToString() | Should -Be $AppDigest
    }

    It 'filters with wildcards' {
        (Get-RegistryTag "$Registry/team/app" -Name 'v*').Tag | Should -Be @('v1', 'v2')
    }

    It 'reports a missing tag as TagNotFound (ObjectNotFound) and goes on with the next name' {
        $tags = Get-RegistryTag "$Registry/team/app" -Name 'missing', 'v1' -ErrorVariable err -ErrorAction SilentlyContinue
        $tags.Tag | Should -Be 'v1'
        $err.Count | Should -Be 1
        $err[0].FullyQualifiedErrorId | Should -Be 'TagNotFound,MobyDistribution.PowerShell.Commands.GetRegistryTagCommand'
        $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $err[0].TargetObject.ToString() | Should -Be "$Registry/team/app:missing"
    }

    It 'reports a missing repository as RepositoryNotFound' {
        Get-RegistryTag "$Registry/no/such" -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -BeLike 'RepositoryNotFound,*'
        $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }

    It 'binds repository strings and catalog entries from the pipeline' {
        ("$Registry/multi" | Get-RegistryTag).Tag | Should -Be 'latest'
        (Get-RegistryCatalog $Registry -Name multi | Get-RegistryTag).Reference.ToString() | Should -Be "$Registry/multi:latest"
    }
}

Describe 'Get-RegistryCatalog | Get-RegistryTag | Get-ImageManifest' {
    It 'gets the manifest of every tag of every repository' {
        $manifests = Get-RegistryCatalog $Registry | Get-RegistryTag | Get-ImageManifest
        $manifests.Count | Should -Be 4
        $manifests | Where-Object { $_.Reference.Repository -eq 'team/app' } | ForEach-Object { $_.Digest.ToString() } | Sort-Object -Unique | Should -Be $AppDigest
        $multi = $manifests | Where-Object { $_.Reference.Repository -eq 'multi' }
        $multi | Should -BeOfType ([MobyDistribution.Manifests.OciImageIndex])
        $multi.Digest.ToString() | Should -Be $MultiDigest
    }
}

# Remove-RegistryTag: Tags.Tests.ps1.
