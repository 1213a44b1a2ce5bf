#Requires -Version 7.0
# Tag selection (Get-RegistryTag -Include/-Exclude/-SemVer/-Latest) and removing one tag (Remove-RegistryTag) against a
# real registry (distribution 2.8.2), images pushed by skopeo and checked by skopeo.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-MobyModule
    $script:TestBed = Start-MobyTestBed
    $script:Image = New-MobyFixture -Layers 1 -Seed 41
    $script:Anonymous = $TestBed.Anonymous
    $script:Registry = $Anonymous.HostPort
    $script:Digest = Publish-MobyFixture $Image $Anonymous 'select/app' 'v1'
    foreach ($tag in 'v2', 'v1.3', '1.2.0', 'latest', 'pr-1', 'pr-22', '2.1.0-rc.1') { Publish-MobyFixture $Image $Anonymous 'select/app' $tag | Out-Null }

    # A fresh repository with the image under each of these tags.
    function New-TaggedRepository([string] $Name, [string[]] $Tags) {
        foreach ($tag in $Tags) { Publish-MobyFixture $Image $Anonymous $Name $tag | Out-Null }
        "$Registry/$Name"
    }

    function Get-SkopeoRaw([string] $Reference) {
        $result = [MobyDistribution.TestBed.Skopeo]::TryRun([TimeSpan]::FromSeconds(60), [string[]] @('inspect', '--retry-times', '0', '--tls-verify=false', '--no-creds', '--raw', "docker://$Reference"))
        if ($result.ExitCode -ne 0) { return $null }
        $result.StandardOutputBytes
    }
}

AfterAll {
    $TestBed.Dispose()
    $Image.Dispose()
}

Describe 'Get-RegistryTag selects tags' {
    It 'takes wildcards with -Include and -Exclude' {
        (Get-RegistryTag "$Registry/select/app" -Include 'pr-*').Tag | Should -Be @('pr-1', 'pr-22')
        (Get-RegistryTag "$Registry/select/app" -Include 'v*' -Exclude 'v1.*').Tag | Should -Be @('v1', 'v2')
        (Get-RegistryTag "$Registry/select/app" -Exclude latest, 'pr-*', '*-rc.*').Tag | Should -Be @('1.2.0', 'v1', 'v1.3', 'v2')
        # -Name with the selection parameters is one more include.
        (Get-RegistryTag "$Registry/select/app" -Name 'v*' -Exclude v2).Tag | Should -Be @('v1', 'v1.3')
    }

    It 'takes a semantic-version range, with v prefixes and short forms, and leaves out what is not a version' {
        (Get-RegistryTag "$Registry/select/app" -SemVer '>=1.2.0 <2').Tag | Should -Be @('1.2.0', 'v1.3')
        (Get-RegistryTag "$Registry/select/app" -SemVer '1.3').Tag | Should -Be 'v1.3'
        (Get-RegistryTag "$Registry/select/app" -SemVer '*').Tag | Should -Not -Contain 'latest'
        (Get-RegistryTag "$Registry/select/app" -SemVer '>=2.1.0-rc.0').Tag | Should -Be '2.1.0-rc.1'
    }

    It 'gives the newest N by version, newest first' {
        (Get-RegistryTag "$Registry/select/app" -SemVer '<3' -Latest 3).Tag | Should -Be @('v2', 'v1.3', '1.2.0')
        (Get-RegistryTag "$Registry/select/app" -Exclude latest, 'pr-*', '2.1*' -Latest 1).Tag | Should -Be 'v2'
    }

    It 'orders by the configs created time when not every tag is a version, and says so' {
        $out = Get-RegistryTag "$Registry/select/app" -Include 'pr-*', latest -Latest 2 -Verbose 4>&1
        (($out | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }).Message -join "`n") | Should -Match 'created time'
        # One image, one created time: the tie goes by name, descending.
        ($out | Where-Object { $_ -is [MobyDistribution.PowerShell.RegistryTag] }).Tag | Should -Be @('pr-22', 'pr-1')
    }

    It 'stops with InvalidTagSelection on a range it cannot read' {
        { Get-RegistryTag "$Registry/select/app" -SemVer '>=1.x.2' -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidTagSelection,MobyDistribution.PowerShell.Commands.GetRegistryTagCommand'
        { Get-RegistryTag "$Registry/select/app" -Include 'v[1' -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidTagSelection,MobyDistribution.PowerShell.Commands.GetRegistryTagCommand'
    }
}

Describe 'Remove-RegistryTag' {
    It 'changes nothing with -WhatIf' {
        $repo = New-TaggedRepository 'untag/whatif' 'v1', 'v2'
        Remove-RegistryTag $repo -Name v2 -WhatIf
        Remove-RegistryTag "${repo}:v1" -DeleteManifest -WhatIf
        (Get-RegistryTag $repo).Tag | Should -Be @('v1', 'v2')
        (Get-RegistryTag $repo -Name v2).Digest.ToString() | Should -Be $Digest
    }

    It 'removes only the named tag: v1, on the same digest, stays as it was' {
        $repo = New-TaggedRepository 'untag/one' 'v1', 'v2'
        $before = Get-SkopeoRaw "${repo}:v1"
        $removed = Remove-RegistryTag $repo -Name v2 -Confirm:$false -PassThru -WarningVariable warned
        $removed.Tag | Should -Be 'v2'
        $removed.Digest.ToString() | Should -Be $Digest
        $warned | Should -BeNullOrEmpty
        (Get-RegistryTag $repo).Tag | Should -Be 'v1'
        (Get-RegistryTag $repo -Name v1).Digest.ToString() | Should -Be $Digest
        # skopeo, independently: v1 is the same bytes, the manifest is there by digest, v2 is gone.
        $after = Get-SkopeoRaw "${repo}:v1"
        [Convert]::ToHexString($after) | Should -Be ([Convert]::ToHexString($before))
        Get-SkopeoRaw "$repo@$Digest" | Should -Not -BeNullOrEmpty
        Get-SkopeoRaw "${repo}:v2" | Should -BeNullOrEmpty
    }

    It 'with -DeleteManifest deletes the manifest, and every tag on it goes, with a warning' {
        $repo = New-TaggedRepository 'untag/manifest' 'v1', 'v2'
        $removed = Remove-RegistryTag "${repo}:v2" -DeleteManifest -Confirm:$false -PassThru -WarningVariable warned -WarningAction SilentlyContinue
        $removed.Digest.ToString() | Should -Be $Digest
        $warned | Should -Not -BeNullOrEmpty
        Get-RegistryTag $repo -Name v1 -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -BeLike 'TagNotFound,*'
        Get-SkopeoRaw "$repo@$Digest" | Should -BeNullOrEmpty
    }

    It 'asks for confirmation by default (ConfirmImpact High), both ways' {
        $attribute = (Get-Command Remove-RegistryTag).ImplementingType.GetCustomAttributes([System.Management.Automation.CmdletAttribute], $false)[0]
        $attribute.ConfirmImpact | Should -Be 'High'
    }

    It 'reports a missing tag as TagNotFound' {
        $repo = New-TaggedRepository 'untag/missing' 'v1'
        Remove-RegistryTag $repo -Name gone -Confirm:$false -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -Be 'TagNotFound,MobyDistribution.PowerShell.Commands.RemoveRegistryTagCommand'
        $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }
}

Describe 'Removing tags by the pipeline (the retention recipe)' {
    It 'Get-RegistryTag -Exclude latest | Remove-RegistryTag removes every tag but latest, and latest still has the image' {
        $repo = New-TaggedRepository 'retain/app' 'latest', 'v1', 'v2', 'pr-3'
        Get-RegistryTag $repo -Exclude latest | Remove-RegistryTag -Confirm:$false
        (Get-RegistryTag $repo).Tag | Should -Be 'latest'
        (Get-RegistryTag $repo -Name latest).Digest.ToString() | Should -Be $Digest
        Get-SkopeoRaw "${repo}:latest" | Should -Not -BeNullOrEmpty
    }

    It 'keeps only the newest N versions, as the README says' {
        $repo = New-TaggedRepository 'retain/newest' 'latest', 'v1.0.0', 'v1.2', 'v1.10', '2.0.0', 'v0.9'
        $keep = (Get-RegistryTag $repo -SemVer '*' -Latest 3).Tag
        $keep | Should -Be @('2.0.0', 'v1.10', 'v1.2')
        Get-RegistryTag $repo -SemVer '*' | Where-Object Tag -notin $keep | Remove-RegistryTag -Confirm:$false
        (Get-RegistryTag $repo).Tag | Should -Be @('2.0.0', 'latest', 'v1.10', 'v1.2')
        (Get-RegistryTag $repo -Name latest).Digest.ToString() | Should -Be $Digest
    }

    It 'binds objects with Reference (an image reference with its tag) and Tag properties, as Get-ImageConfig writes them' {
        $repo = New-TaggedRepository 'retain/objects' 'v1', 'v2', 'v3', 'v4'
        $objects = @(
            [PSCustomObject]@{ Reference = [MobyDistribution.ImageReference]"${repo}:v1"; Tag = 'v1' }
            # A Reference alone names its tag.
            [PSCustomObject]@{ Reference = [MobyDistribution.ImageReference]"${repo}:v2" }
            # A repository reference and a Tag property.
            [PSCustomObject]@{ Reference = [MobyDistribution.ImageReference]$repo; Tag = 'v3' }
        )
        $removed = $objects | Remove-RegistryTag -Confirm:$false -PassThru
        $removed.Tag | Should -Be @('v1', 'v2', 'v3')
        (Get-RegistryTag $repo).Tag | Should -Be 'v4'
    }
}
