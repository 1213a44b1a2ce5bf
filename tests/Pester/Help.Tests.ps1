#Requires -Version 7.0
# Get-Help for every exported cmdlet, built from docs/cmdlets/*.md: complete, true to the cmdlet, with examples that
# parse; the about topics; and the markdown-to-MAML converter itself, on a sample page.

BeforeDiscovery {
    # Every cmdlet the manifest exports, those added later too: a new cmdlet fails here until its page is written.
    $Exported = (Import-PowerShellDataFile (Join-Path $PSScriptRoot '../../MobyDistribution.psd1')).CmdletsToExport | Sort-Object
    $Cases = @($Exported | ForEach-Object { @{ Name = $_ } })
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-MobyModule
    $script:Docs = Join-Path $MobyRepoRoot 'docs/cmdlets'
    $script:Converter = Join-Path $MobyRepoRoot 'build/ConvertTo-Maml.ps1'
    $script:Common = [System.Management.Automation.PSCmdlet]::CommonParameters + [System.Management.Automation.PSCmdlet]::OptionalCommonParameters

    # The parameters help must describe: the cmdlet's own, with -WhatIf and -Confirm.
    function Get-DocumentedParameter([string] $Name) {
        (Get-Command $Name).Parameters.Values | Where-Object { $_.Name -notin $Common -or $_.Name -in 'WhatIf', 'Confirm' }
    }

    function Get-HelpText($Node) { (@($Node) | ForEach-Object { $_.Text }) -join "`n" }
}

Describe 'Help of <Name>' -ForEach $Cases {
    BeforeAll {
        $script:Help = Get-Help $Name -Full
        $script:Command = Get-Command $Name
    }

    It 'has a page in docs/cmdlets' {
        Join-Path $Docs "$Name.md" | Should -Exist -Because "every exported cmdlet is documented (draft one with: dotnet pwsh ./build/New-CmdletMarkdown.ps1 -Name $Name)"
    }

    It 'has a synopsis and a description' {
        # Without MAML help, Get-Help makes the synopsis from the syntax.
        $Help.Synopsis | Should -Not -BeNullOrEmpty
        $Help.Synopsis | Should -Not -Match "^\s*$([regex]::Escape($Name))\s"
        (Get-HelpText $Help.description).Length | Should -BeGreaterThan 100
    }

    It 'has at least two examples that use it, each of which parses' {
        $examples = @($Help.examples.example)
        $examples.Count | Should -BeGreaterOrEqual 2
        foreach ($example in $examples) {
            $errors = $null
            [System.Management.Automation.Language.Parser]::ParseInput($example.code, [ref] $null, [ref] $errors) | Out-Null
            $errors | Should -BeNullOrEmpty -Because "the code of '$($example.title.Trim('- '))' must parse: $(($errors | ForEach-Object Message) -join "; ")"
            $example.code | Should -Match ([regex]::Escape($Name)) -Because "'$($example.title.Trim('- '))' is an example of $Name"
            (Get-HelpText $example.remarks).Trim() | Should -Not -BeNullOrEmpty -Because "'$($example.title.Trim('- '))' says what it does"
        }
    }

    It 'describes every parameter' {
        foreach ($parameter in Get-DocumentedParameter $Name) {
            $documented = $Help.parameters.parameter | Where-Object name -EQ $parameter.Name
            $documented | Should -Not -BeNullOrEmpty -Because "-$($parameter.Name) is a parameter of $Name"
            (Get-HelpText $documented.description).Trim() | Should -Not -BeNullOrEmpty -Because "-$($parameter.Name) needs a description"
        }
    }

    It 'documents only parameters it has' {
        $names = @(Get-DocumentedParameter $Name | ForEach-Object Name)
        foreach ($documented in $Help.parameters.parameter) { $names | Should -Contain $documented.name }
    }

    It 'says what each parameter takes as the cmdlet does: type, required, position, pipeline input, wildcards, aliases' {
        foreach ($parameter in Get-DocumentedParameter $Name) {
            $documented = $Help.parameters.parameter | Where-Object name -EQ $parameter.Name
            $sets = $parameter.ParameterSets.Values
            $because = "the help of -$($parameter.Name) must match the cmdlet"
            $type = $parameter.ParameterType
            $documented.type.name | Should -Be ($type.Name) -Because $because
            $documented.required | Should -Be ([string] [bool] ($sets | Where-Object IsMandatory)).ToLowerInvariant() -Because $because
            $positions = @($sets | ForEach-Object { if ($_.Position -ge 0) { "$($_.Position)" } else { 'named' } } | Select-Object -Unique)
            if ($positions.Count -eq 1) { $documented.position | Should -Be $positions[0] -Because $because }
            $pipeline = @(if ($sets | Where-Object ValueFromPipeline) { 'ByValue' }; if ($sets | Where-Object ValueFromPipelineByPropertyName) { 'ByPropertyName' })
            $expected = if ($pipeline) { "True ($($pipeline -join ', '))" } else { 'False' }
            $documented.pipelineInput | Should -Be $expected -Because $because
            $wildcards = [bool] ($parameter.Attributes | Where-Object { $_ -is [System.Management.Automation.SupportsWildcardsAttribute] })
            $documented.globbing | Should -Be ([string] $wildcards).ToLowerInvariant() -Because $because
            $aliases = if ($parameter.Aliases.Count) { $parameter.Aliases -join ', ' } else { 'none' }
            $documented.aliases | Should -Be $aliases -Because $because
        }
    }

    It 'shows one syntax per parameter set' {
        @($Help.syntax.syntaxItem).Count | Should -Be $Command.ParameterSets.Count
    }

    It 'names its outputs as its OutputType does, and links to related topics' {
        $documented = @($Help.returnValues.returnValue | ForEach-Object { $_.type.name })
        foreach ($type in $Command.OutputType.Type) { $documented | Should -Contain $type.FullName }
        @($Help.relatedLinks.navigationLink).Count | Should -BeGreaterOrEqual 2
    }
}

Describe 'The help pages' {
    It 'exist only for cmdlets the module exports' {
        $exported = (Import-PowerShellDataFile (Join-Path $MobyRepoRoot 'MobyDistribution.psd1')).CmdletsToExport
        foreach ($page in Get-ChildItem $Docs -Filter '*.md') { $exported | Should -Contain $page.BaseName }
    }

    It 'read well in Get-Help -Examples: titles, code, output and remarks in order' {
        $text = Get-Help Copy-RegistryImage -Examples | Out-String -Width 200
        $text | Should -Match 'Example 1: Copy an image to another registry'
        $first = $text.IndexOf('Copy-RegistryImage -Source localhost:5000/team/app:v1')
        $output = $text.IndexOf('Repository: registry.example.com/team/app')
        $remarks = $text.IndexOf('The first command connects')
        $first | Should -BeGreaterThan 0
        $output | Should -BeGreaterThan $first
        $remarks | Should -BeGreaterThan $output
    }
}

Describe 'The about topics' {
    It '<Topic> is found by Get-Help and covers <Covers>' -ForEach @(
        @{ Topic = 'about_MobyDistribution'; Covers = @('REFERENCES', 'SESSIONS AND CREDENTIALS', 'TYPED OBJECTS', 'PIPELINES', 'SECURITY DEFAULTS') }
        @{ Topic = 'about_MobyDistribution_Credentials'; Covers = @('Connect-Registry', 'DOCKER_CONFIG', 'credHelpers', 'PSCredential') }) {
        $text = Get-Help $Topic | Out-String
        foreach ($word in $Covers) { $text | Should -Match ([regex]::Escape($word)) }
    }
}

Describe 'ConvertTo-Maml' {
    BeforeAll {
        $script:Root = New-MobyTempDirectory
        $sample = @'
---
external help file: MobySample-help.xml
online version: https://example.com/Get-MobySample
schema: 2.0.0
---

# Get-MobySample

## SYNOPSIS
Gets samples.

## SYNTAX

### ByName (Default)
```
Get-MobySample [-Name] <String[]> [-Force] [<CommonParameters>]
```

### ById
```
Get-MobySample -Id <Int32> [-Name <String[]>] [<CommonParameters>]
```

## DESCRIPTION
Gets samples by `name` or **id**,
over two lines that make one paragraph.

A second paragraph with a [link](https://example.com).

## EXAMPLES

### Example 1: Get one sample

```powershell
Get-MobySample -Name one
```

```output
Name Id
---- --
one   1
```

Gets the sample named one.

### Example 2: Pipe names

```powershell
'one', 'two' | Get-MobySample -Force
```

## PARAMETERS

### -Force
Forces it.

```yaml
Type: SwitchParameter
Parameter Sets: ByName
Aliases: F

Required: False
Position: Named
Default value: False
Accept pipeline input: False
Accept wildcard characters: False
```

### -Id
The id.

```yaml
Type: Int32
Parameter Sets: ById
Aliases:
Accepted values: 1, 2

Required: True
Position: Named
Default value: 1
Accept pipeline input: True (ByPropertyName)
Accept wildcard characters: False
```

### -Name
The names; wildcards allowed.

```yaml
Type: String[]
Parameter Sets: ByName
Aliases:

Required: True
Position: 0
Default value: None
Accept pipeline input: True (ByValue)
Accept wildcard characters: True
```

```yaml
Type: String[]
Parameter Sets: ById
Aliases:

Required: False
Position: Named
Default value: None
Accept pipeline input: True (ByValue)
Accept wildcard characters: True
```

### CommonParameters
This cmdlet supports the common parameters.

## INPUTS

### System.String[]
Names.

## OUTPUTS

### System.Management.Automation.PSObject
A sample.

## NOTES
A note.

## RELATED LINKS

[Online docs](https://example.com/docs)

[Get-Other](Get-Other.md)
'@
        Set-Content (Join-Path $Root 'Get-MobySample.md') $sample
        $script:Module = Join-Path $Root 'MobySample'
        New-Item -ItemType Directory (Join-Path $Module 'en-US') | Out-Null
        $script:Maml = & $Converter -Path (Join-Path $Root 'Get-MobySample.md') -OutputPath (Join-Path $Module 'en-US/MobySample-help.xml')
        # A function with external help reads the MAML as a binary cmdlet does.
        Set-Content (Join-Path $Module 'MobySample.psm1') @'
function Get-MobySample {
    # .ExternalHelp MobySample-help.xml
    [CmdletBinding(DefaultParameterSetName = 'ByName')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipeline, ParameterSetName = 'ByName')]
        [Parameter(ValueFromPipeline, ParameterSetName = 'ById')]
        [SupportsWildcards()] [string[]] $Name,
        [Parameter(Mandatory, ValueFromPipelineByPropertyName, ParameterSetName = 'ById')] [ValidateSet(1, 2)] [int] $Id = 1,
        [Parameter(ParameterSetName = 'ByName')] [Alias('F')] [switch] $Force
    )
}
'@
        Import-Module (Join-Path $Module 'MobySample.psm1') -Force
        $script:SampleHelp = Get-Help Get-MobySample -Full
    }

    AfterAll {
        Remove-Module MobySample -ErrorAction SilentlyContinue
        Remove-MobyTempDirectory
    }

    It 'writes a MAML file that Get-Help reads' {
        $Maml | Should -BeOfType ([System.IO.FileInfo])
        $SampleHelp.Synopsis | Should -Be 'Gets samples.'
    }

    It 'joins the lines of a paragraph and drops inline marks' {
        $paragraphs = @($SampleHelp.description | ForEach-Object { $_.Text.TrimEnd() })
        $paragraphs[0] | Should -Be 'Gets samples by name or id, over two lines that make one paragraph.'
        $paragraphs[1] | Should -Be 'A second paragraph with a link.'
    }

    It 'keeps each parameter''s metadata, and says in which sets one is required' {
        $name = $SampleHelp.parameters.parameter | Where-Object name -EQ 'Name'
        $name.required | Should -Be 'true'
        # Get-Help has one position per parameter: one that differs between sets is given per set.
        $name.position | Should -Be '0 (ByName), named (ById)'
        $name.pipelineInput | Should -Be 'True (ByValue)'
        $name.globbing | Should -Be 'true'
        (@($name.description | ForEach-Object Text) -join ' ') | Should -Match 'Required in the parameter set ByName; optional in ById'
        $id = $SampleHelp.parameters.parameter | Where-Object name -EQ 'Id'
        $id.defaultValue | Should -Be '1'
        $id.pipelineInput | Should -Be 'True (ByPropertyName)'
        @($id.parameterValueGroup.parameterValue) | Should -Be @('1', '2')
        ($SampleHelp.parameters.parameter | Where-Object name -EQ 'Force').aliases | Should -Be 'F'
    }

    It 'makes one syntax per parameter set, positional parameters first' {
        $syntax = (Get-Help Get-MobySample).syntax | Out-String
        $syntax | Should -Match 'Get-MobySample \[-Name\] <String\[\]> \[-Force\]'
        $syntax | Should -Match 'Get-MobySample -Id \{1 \| 2\} \[-Name <String\[\]>\]'
    }

    It 'puts example code in the code, and output and remarks after it' {
        $example = @($SampleHelp.examples.example)[0]
        $example.title | Should -Match 'Example 1: Get one sample'
        $example.code | Should -Be 'Get-MobySample -Name one'
        $remarks = @($example.remarks | ForEach-Object { $_.Text.TrimEnd() })
        $remarks[0] | Should -Be "Name Id`n---- --`none   1"
        $remarks[1] | Should -Be 'Gets the sample named one.'
    }

    It 'carries inputs, outputs, notes and links' {
        $SampleHelp.inputTypes.inputType.type.name | Should -Be 'System.String[]'
        $SampleHelp.returnValues.returnValue.type.name | Should -Be 'System.Management.Automation.PSObject'
        ($SampleHelp.alertSet.alert | ForEach-Object { $_.Text.TrimEnd() }) | Should -Be 'A note.'
        $links = @($SampleHelp.relatedLinks.navigationLink)
        $links.linkText | Should -Be @('Online Version:', 'Online docs', 'Get-Other')
        $links[0].uri | Should -Be 'https://example.com/Get-MobySample'
        $links[2].uri | Should -BeNullOrEmpty
    }

    It 'stops at a page that breaks the schema, naming the file and line' -ForEach @(
        @{ Case = 'an unknown section'; Text = "# Get-Bad`n`n## SYNOPSIS`nBad.`n`n## DESCRIPTION`nBad.`n`n## EXAMPLE`n"; Expected = 'unknown section' }
        @{ Case = 'an unclosed code block'; Text = "# Get-Bad`n`n## SYNOPSIS`nBad.`n`n## DESCRIPTION`n``````powershell`nGet-Bad`n"; Expected = 'not closed' }
        @{ Case = 'a parameter without metadata'; Text = "# Get-Bad`n`n## SYNOPSIS`nBad.`n`n## DESCRIPTION`nBad.`n`n## PARAMETERS`n`n### -Name`nThe name.`n"; Expected = 'no ```yaml block' }
        @{ Case = 'an unknown metadata key'; Text = "# Get-Bad`n`n## SYNOPSIS`nBad.`n`n## DESCRIPTION`nBad.`n`n## PARAMETERS`n`n### -Name`nThe name.`n`n``````yaml`nType: String`nColour: Red`n```````n"; Expected = "unknown parameter metadata 'Colour'" }
        @{ Case = 'no synopsis'; Text = "# Get-Bad`n`n## DESCRIPTION`nBad.`n"; Expected = 'no ## SYNOPSIS' }) {
        $page = Join-Path $Root 'Get-Bad.md'
        Set-Content $page $Text
        { & $Converter -Path $page -OutputPath (Join-Path $Root 'bad.xml') } | Should -Throw "*Get-Bad.md*$Expected*"
    }
}
