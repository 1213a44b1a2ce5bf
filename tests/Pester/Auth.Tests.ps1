#Requires -Version 7.0
# The three registry configurations (anonymous, Basic, token), wrong credentials, and secrets kept out of -Verbose.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-MobyModule
    $script:TestBed = Start-MobyTestBed
    $script:Image = New-MobyFixture -Layers 2 -Seed 41
    $script:Digests = @{}
    foreach ($each in $TestBed.All) {
        $Digests[[string] $each.AuthMode] = Publish-MobyFixture $Image $each 'secure/app' 'v1'
    }
    $script:Upload = Join-Path (New-MobyTempDirectory) 'upload.bin'
    [IO.File]::WriteAllBytes($Upload, [byte[]] (1..200 | ForEach-Object { $_ % 256 }))
}

AfterAll {
    Remove-MobyTempDirectory
    Get-RegistrySession | Where-Object Registry -in $TestBed.All.HostPort | Disconnect-Registry
    $TestBed.Dispose()
    $Image.Dispose()
}

Describe 'Working with a <_> registry' -ForEach 'Anonymous', 'Basic', 'Token' {
    BeforeAll {
        $Server = $TestBed.Get($_)
        $Registry = $Server.HostPort
        $Mode = $_
    }

    It 'connects, lists, gets, saves and publishes' {
        Connect-MobyTestRegistry $Server
        $session = Get-RegistrySession -Registry $Registry
        $session.IsConnected | Should -BeTrue
        if ($Mode -ne 'Anonymous') { $session.UserName | Should -Be $Server.Username }

        (Get-RegistryCatalog $Registry | Get-RegistryTag).Reference.ToString() | Should -Be "$Registry/secure/app:v1"
        $manifest = Get-ImageManifest "$Registry/secure/app:v1"
        $manifest.Digest.ToString() | Should -Be $Digests[$Mode]

        $folder = New-MobyTempDirectory
        $manifest | Save-ImageBlob -Path $folder
        foreach ($file in Get-ChildItem $folder) { Get-MobySha256 $file.FullName | Should -Be ($file.Name -replace '^sha256-', 'sha256:') }

        (Publish-ImageBlob -Repository "$Registry/secure/uploads" -Path $Upload).Outcome | Should -Be 'Uploaded'
        (Get-ImageManifest "$Registry/secure/app:v1" | Publish-ImageManifest -Reference "$Registry/secure/app:copy").Digest.ToString() | Should -Be $Digests[$Mode]
    }
}

Describe 'Wrong credentials on a <_> registry' -ForEach 'Basic', 'Token' {
    BeforeAll {
        $Server = $TestBed.Get($_)
        $Registry = $Server.HostPort
    }

    It 'are refused by Connect-Registry with RegistryAuthenticationFailed, keeping no session' {
        Disconnect-Registry $Registry -ErrorAction SilentlyContinue
        $wrong = New-MobyCredential $Server.Username 'not-the-password'
        $thrown = { Connect-Registry -Registry $Registry -Credential $wrong -ErrorAction Stop } | Should -Throw -PassThru
        $thrown.FullyQualifiedErrorId | Should -Be 'RegistryAuthenticationFailed,MobyDistribution.PowerShell.Commands.ConnectRegistryCommand'
        $thrown.CategoryInfo.Category | Should -Be 'AuthenticationError'
        $thrown.Exception.Message | Should -Not -BeLike '*not-the-password*'
        Get-RegistrySession | Where-Object { $_.Registry -eq $Registry -and $_.IsConnected } | Should -BeNullOrEmpty
    }

    It 'without credentials, reading is an AuthenticationError too' {
        Disconnect-Registry $Registry -ErrorAction SilentlyContinue
        Get-RegistryTag "$Registry/secure/app" -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -BeLike 'RegistryAuthenticationFailed,*'
        $err[0].CategoryInfo.Category | Should -Be 'AuthenticationError'
        $err[0].ErrorDetails.RecommendedAction | Should -BeLike "*Connect-Registry*$Registry*"
    }
}

Describe 'Secrets in -Verbose output on a <_> registry' -ForEach 'Basic', 'Token' {
    BeforeAll {
        $Server = $TestBed.Get($_)
        $Registry = $Server.HostPort
    }

    It 'never show the password or a token' {
        $user = $Server.Username
        $password = $Server.Password
        $credential = New-MobyCredential $user $password
        $folder = New-MobyTempDirectory
        $lines = & {
            Connect-Registry -Registry $Registry -Credential (New-MobyCredential $user 'wrong-password') -ErrorAction SilentlyContinue -Verbose
            Connect-Registry -Registry $Registry -Credential $credential -Verbose -PassThru | Out-String
            Get-RegistryTag "$Registry/secure/app" -Name v1 -Verbose | Out-String
            Get-ImageManifest "$Registry/secure/app:v1" -Verbose | Save-ImageBlob -Path $folder -Verbose
            Publish-ImageBlob -Repository "$Registry/secure/verbose" -Path $Upload -Monolithic -Verbose | Out-String
            Get-RegistrySession -Registry $Registry | Format-List * | Out-String
        } 4>&1 2>&1
        $text = ($lines | ForEach-Object { "$_" }) -join "`n"
        ($lines | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }).Count | Should -BeGreaterThan 5
        $text | Should -BeLike '*GET http*'
        Find-MobySecret -Text $text -UserName $user -Password $password | Should -BeNullOrEmpty
        $text | Should -Not -BeLike '*wrong-password*'
    }
}
