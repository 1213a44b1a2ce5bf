<#
.SYNOPSIS
    Converts cmdlet help written in platyPS's markdown schema (2.0.0) to one MAML file that Get-Help reads.
.DESCRIPTION
    build.ps1 uses this when platyPS is not installed (where it is, New-ExternalHelp does the same from the same files).
    One markdown file per cmdlet: '# Name', then the sections SYNOPSIS, SYNTAX, DESCRIPTION, EXAMPLES, PARAMETERS,
    INPUTS, OUTPUTS, NOTES and RELATED LINKS ('##'), their entries as '###' headings. Each parameter has a description
    and one ```yaml block of metadata per distinct set of values (Type, Parameter Sets, Aliases, Accepted values,
    Required, Position, Default value, Accept pipeline input, Accept wildcard characters).

    As platyPS does, the syntax is generated from the parameters' metadata; the SYNTAX section only names the
    parameter sets (a '### Name (Default)' heading each). A file that breaks the schema (unknown section, unclosed
    code block, a parameter without metadata, an unknown metadata key, no synopsis) stops the conversion with an error
    that names the file and line, so bad help never ships silently.

    Inline markdown is reduced for the console: `code` and **bold** lose their marks, [text](url) keeps its text,
    list items and code blocks keep their lines.
.EXAMPLE
    ./build/ConvertTo-Maml.ps1 -Path ./docs/cmdlets -OutputPath ./out/MobyDistribution/en-US/MobyDistribution.PowerShell.dll-Help.xml
#>
[CmdletBinding()]
[OutputType([System.IO.FileInfo])]
param(
    # Markdown files, or folders whose *.md files are read.
    [Parameter(Mandatory)]
    [string[]] $Path,
    # The MAML file to write (its folder is created).
    [Parameter(Mandatory)]
    [string] $OutputPath
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

# Code blocks of an example that hold code; others (```output) are shown after it, as written.
$CodeLanguages = '', 'powershell', 'pwsh', 'ps', 'ps1'
$KnownSections = 'SYNOPSIS', 'SYNTAX', 'DESCRIPTION', 'EXAMPLES', 'PARAMETERS', 'INPUTS', 'OUTPUTS', 'NOTES', 'RELATED LINKS'
$MetadataKeys = @{
    'type' = 'Type'; 'parameter sets' = 'ParameterSets'; 'aliases' = 'Aliases'; 'accepted values' = 'AcceptedValues'
    'required' = 'Required'; 'position' = 'Position'; 'default value' = 'DefaultValue'
    'accept pipeline input' = 'PipelineInput'; 'accept wildcard characters' = 'Globbing'
}

function Stop-Conversion([string] $File, [int] $Line, [string] $Message) {
    $where = if ($Line -gt 0) { "${File}:$Line" } else { $File }
    throw "Help markdown ${where}: $Message"
}

# Splits a file into front matter, title and '##' sections holding '###' entries; each holds text lines and code blocks.
function Read-MarkdownTree([string] $File) {
    $lines = [System.IO.File]::ReadAllLines($File)
    $tree = [pscustomobject]@{ File = $File; Front = @{}; Title = $null; Sections = [System.Collections.Generic.List[object]]::new() }
    $i = 0
    if ($lines.Count -gt 0 -and $lines[0].Trim() -eq '---') {
        for ($i = 1; $i -lt $lines.Count -and $lines[$i].Trim() -ne '---'; $i++) {
            if ($lines[$i] -match '^\s*([^:#]+?)\s*:\s*(.*?)\s*$') { $tree.Front[$Matches[1]] = $Matches[2] }
        }
        if ($i -ge $lines.Count) { Stop-Conversion $File 1 'the front matter is not closed with ---.' }
        $i++
    }
    $section = $null; $entry = $null; $fence = $null; $code = $null
    for (; $i -lt $lines.Count; $i++) {
        $line = $lines[$i]
        $container = if ($entry) { $entry } elseif ($section) { $section } else { $null }
        if ($fence) {
            if ($line -match '^\s*(`{3,})\s*$' -and $Matches[1].Length -ge $fence.Length) { $fence = $null; continue }
            $code.Lines.Add($line)
            continue
        }
        if ($line -match '^\s*(`{3,})\s*([\w+-]*)') {
            $fence = $Matches[1]
            $code = [pscustomobject]@{ Kind = 'Code'; Language = $Matches[2].ToLowerInvariant(); Lines = [System.Collections.Generic.List[string]]::new(); Line = $i + 1 }
            if (-not $container) { Stop-Conversion $File ($i + 1) 'a code block before the first section.' }
            $container.Blocks.Add($code)
            continue
        }
        if ($line -match '^#\s+(.+?)\s*$') {
            if ($tree.Title) { Stop-Conversion $File ($i + 1) "a second title '# $($Matches[1])'." }
            $tree.Title = $Matches[1]; continue
        }
        if ($line -match '^##\s+(.+?)\s*$') {
            $name = $Matches[1].ToUpperInvariant()
            if ($name -notin $KnownSections) { Stop-Conversion $File ($i + 1) "unknown section '## $($Matches[1])' (known: $($KnownSections -join ', '))." }
            if ($tree.Sections | Where-Object Name -EQ $name) { Stop-Conversion $File ($i + 1) "a second '## $name' section." }
            $section = [pscustomobject]@{ Name = $name; Blocks = [System.Collections.Generic.List[object]]::new(); Entries = [System.Collections.Generic.List[object]]::new(); Line = $i + 1 }
            $tree.Sections.Add($section); $entry = $null
            continue
        }
        if ($line -match '^###\s+(.+?)\s*$') {
            if (-not $section) { Stop-Conversion $File ($i + 1) "'### $($Matches[1])' outside a section." }
            $entry = [pscustomobject]@{ Name = $Matches[1]; Blocks = [System.Collections.Generic.List[object]]::new(); Line = $i + 1 }
            $section.Entries.Add($entry)
            continue
        }
        if (-not $container) {
            if ($line.Trim()) { Stop-Conversion $File ($i + 1) 'text before the first section.' }
            continue
        }
        $last = if ($container.Blocks.Count) { $container.Blocks[$container.Blocks.Count - 1] } else { $null }
        if (-not $last -or $last.Kind -ne 'Text') {
            $last = [pscustomobject]@{ Kind = 'Text'; Lines = [System.Collections.Generic.List[string]]::new() }
            $container.Blocks.Add($last)
        }
        $last.Lines.Add($line)
    }
    if ($fence) { Stop-Conversion $File $code.Line 'a code block is not closed.' }
    if (-not $tree.Title) { Stop-Conversion $File 0 "no '# Cmdlet-Name' title." }
    return $tree
}

# Markdown inline marks that read badly in a console.
function ConvertTo-PlainText([string] $Text) {
    $t = [regex]::Replace($Text, '\[([^\]]+)\]\(([^)]*)\)', '$1')
    $t = [regex]::Replace($t, '\*\*([^*]+)\*\*', '$1')
    $t = [regex]::Replace($t, '(?<![\w`])_([^_]+)_(?![\w`])', '$1')
    $t = [regex]::Replace($t, '`([^`]+)`', '$1')
    $t = [regex]::Replace($t, '\\([\\`*_{}\[\]()#+\-.!<>|])', '$1')
    return $t
}

# Paragraphs of a block list: text lines joined (list items kept one per line), code blocks kept line by line.
function Get-Paragraph($Blocks) {
    $paragraphs = [System.Collections.Generic.List[string]]::new()
    foreach ($block in $Blocks) {
        if ($block.Kind -eq 'Code') {
            # Get-Help indents every line of a paragraph already; the lines are kept as written.
            if ($block.Lines.Count) { $paragraphs.Add(($block.Lines -join "`n")) }
            continue
        }
        $current = [System.Collections.Generic.List[string]]::new()
        foreach ($line in @($block.Lines) + '') {
            $trimmed = $line.Trim()
            if (-not $trimmed) {
                if ($current.Count) { $paragraphs.Add(($current -join "`n")); $current.Clear() }
                continue
            }
            $isItem = $trimmed -match '^([-*+]|\d+\.)\s+'
            if ($isItem -or $current.Count -eq 0) { $current.Add((ConvertTo-PlainText $trimmed)) }
            else { $current[$current.Count - 1] += ' ' + (ConvertTo-PlainText $trimmed) }
        }
    }
    return , $paragraphs
}

function Get-Section($Tree, [string] $Name) { $Tree.Sections | Where-Object Name -EQ $Name | Select-Object -First 1 }

function Read-Metadata($Tree, $Entry, $Block) {
    $meta = @{ Type = $null; ParameterSets = @('(All)'); Aliases = @(); AcceptedValues = @(); Required = 'False'; Position = 'Named'
        DefaultValue = 'None'; PipelineInput = 'False'; Globbing = 'False' }
    $n = 0
    foreach ($line in $Block.Lines) {
        $n++
        if (-not $line.Trim()) { continue }
        if ($line -notmatch '^\s*([^:]+?)\s*:\s*(.*?)\s*$') { Stop-Conversion $Tree.File ($Block.Line + $n) "'$line' is not 'Key: value'." }
        $key = $MetadataKeys[$Matches[1].ToLowerInvariant()]
        if (-not $key) { Stop-Conversion $Tree.File ($Block.Line + $n) "unknown parameter metadata '$($Matches[1])' of -$($Entry.Name.TrimStart('-'))." }
        $value = $Matches[2]
        switch ($key) {
            { $_ -in 'ParameterSets', 'Aliases', 'AcceptedValues' } {
                $meta[$key] = @($value -split ',' | ForEach-Object Trim | Where-Object { $_ })
                if ($key -eq 'ParameterSets' -and $meta[$key].Count -eq 0) { $meta[$key] = @('(All)') }
            }
            default { if ($value) { $meta[$key] = $value } }
        }
    }
    if (-not $meta.Type) { Stop-Conversion $Tree.File $Block.Line "-$($Entry.Name.TrimStart('-')) has no Type." }
    foreach ($flag in 'Required', 'Globbing') {
        if ($meta[$flag] -notmatch '^(true|false)$') { Stop-Conversion $Tree.File $Block.Line "$flag of -$($Entry.Name.TrimStart('-')) is '$($meta[$flag])', not true or false." }
        $meta[$flag] = $meta[$flag].ToLowerInvariant()
    }
    if ($meta.Position -notmatch '^(\d+|named)$') { Stop-Conversion $Tree.File $Block.Line "Position of -$($Entry.Name.TrimStart('-')) is '$($meta.Position)', not a number or Named." }
    return $meta
}

# The help of one cmdlet, as data.
function Read-CmdletHelp([string] $File) {
    $tree = Read-MarkdownTree $File
    $help = [ordered]@{
        Name = $tree.Title; File = $File; OnlineVersion = $tree.Front['online version']; Synopsis = ''; Description = $null
        ParameterSets = [System.Collections.Generic.List[object]]::new(); Examples = [System.Collections.Generic.List[object]]::new()
        Parameters = [System.Collections.Generic.List[object]]::new(); Inputs = [System.Collections.Generic.List[object]]::new()
        Outputs = [System.Collections.Generic.List[object]]::new(); Notes = $null; Links = [System.Collections.Generic.List[object]]::new()
    }
    if ($help.Name -notmatch '^[A-Za-z]+-[A-Za-z0-9]+$') { Stop-Conversion $File 0 "the title '$($help.Name)' is not a Verb-Noun cmdlet name." }

    $synopsis = Get-Section $tree 'SYNOPSIS'
    if (-not $synopsis) { Stop-Conversion $File 0 'no ## SYNOPSIS.' }
    $help.Synopsis = (Get-Paragraph $synopsis.Blocks) -join ' '
    if (-not $help.Synopsis.Trim()) { Stop-Conversion $File $synopsis.Line 'the synopsis is empty.' }

    $description = Get-Section $tree 'DESCRIPTION'
    if (-not $description) { Stop-Conversion $File 0 'no ## DESCRIPTION.' }
    $help.Description = Get-Paragraph $description.Blocks

    $syntax = Get-Section $tree 'SYNTAX'
    if ($syntax) {
        foreach ($entry in $syntax.Entries) {
            $isDefault = $entry.Name -match '\s*\(Default\)\s*$'
            $help.ParameterSets.Add([pscustomobject]@{ Name = ($entry.Name -replace '\s*\(Default\)\s*$', ''); IsDefault = [bool] $isDefault })
        }
    }

    $examples = Get-Section $tree 'EXAMPLES'
    if ($examples) {
        foreach ($entry in $examples.Entries) {
            $intro = [System.Collections.Generic.List[object]]::new(); $after = [System.Collections.Generic.List[object]]::new()
            $code = [System.Collections.Generic.List[string]]::new()
            foreach ($block in $entry.Blocks) {
                if ($block.Kind -eq 'Code' -and $block.Language -in $CodeLanguages) {
                    if ($code.Count) { $code.Add('') }
                    $code.AddRange([string[]] $block.Lines)
                } elseif ($code.Count) {
                    # After the code: its output (```output) and the explanation, in the order written.
                    $after.Add($block)
                } else { $intro.Add($block) }
            }
            if (-not $code.Count) { Stop-Conversion $File $entry.Line "the example '$($entry.Name)' has no code block." }
            $help.Examples.Add([pscustomobject]@{
                Title = $entry.Name; Introduction = (Get-Paragraph $intro); Code = ($code -join "`n"); Remarks = (Get-Paragraph $after)
            })
        }
    }

    $parameters = Get-Section $tree 'PARAMETERS'
    if ($parameters) {
        foreach ($entry in $parameters.Entries) {
            if ($entry.Name -match '^<?CommonParameters>?$|^<?WorkflowCommonParameters>?$') { continue }
            if ($entry.Name -notmatch '^-(\w+)$') { Stop-Conversion $File $entry.Line "'### $($entry.Name)' is not a parameter ('### -Name')." }
            $name = $Matches[1]
            $yaml = @($entry.Blocks | Where-Object { $_.Kind -eq 'Code' -and $_.Language -eq 'yaml' })
            if (-not $yaml) { Stop-Conversion $File $entry.Line "-$name has no ```yaml block of metadata." }
            $text = @($entry.Blocks | Where-Object { -not ($_.Kind -eq 'Code' -and $_.Language -eq 'yaml') })
            $help.Parameters.Add([pscustomobject]@{
                Name = $name; Description = (Get-Paragraph $text); Metadata = @($yaml | ForEach-Object { Read-Metadata $tree $entry $_ })
            })
        }
    }

    foreach ($kind in 'INPUTS', 'OUTPUTS') {
        $section = Get-Section $tree $kind
        if (-not $section) { continue }
        $list = $help[$kind.Substring(0, 1) + $kind.Substring(1).ToLowerInvariant()]
        foreach ($entry in $section.Entries) {
            $list.Add([pscustomobject]@{ Type = (ConvertTo-PlainText $entry.Name); Description = (Get-Paragraph $entry.Blocks) })
        }
    }

    $notes = Get-Section $tree 'NOTES'
    if ($notes) {
        $blocks = @($notes.Blocks) + @($notes.Entries | ForEach-Object { $_.Blocks })
        $help.Notes = Get-Paragraph $blocks
    }

    $links = Get-Section $tree 'RELATED LINKS'
    if ($links) {
        foreach ($block in $links.Blocks | Where-Object Kind -EQ 'Text') {
            foreach ($m in [regex]::Matches(($block.Lines -join "`n"), '\[([^\]]+)\]\(([^)]*)\)')) {
                $uri = $m.Groups[2].Value
                # Links between the markdown files mean nothing to Get-Help; their text names the topic.
                if ($uri -notmatch '^[a-z]+://') { $uri = '' }
                $help.Links.Add([pscustomobject]@{ Text = $m.Groups[1].Value; Uri = $uri })
            }
        }
    }
    return [pscustomobject] $help
}

# The metadata of a parameter in one parameter set, or $null when it is not in that set.
function Get-SetMetadata($Parameter, [string] $SetName) {
    foreach ($meta in $Parameter.Metadata) {
        if ($meta.ParameterSets -contains '(All)' -or $meta.ParameterSets -contains $SetName) { return $meta }
    }
    return $null
}

$Maml = 'http://schemas.microsoft.com/maml/2004/10'
$Command = 'http://schemas.microsoft.com/maml/dev/command/2004/10'
$Dev = 'http://schemas.microsoft.com/maml/dev/2004/10'

function Write-Para([System.Xml.XmlWriter] $W, $Paragraphs) {
    foreach ($p in $Paragraphs) { $W.WriteElementString('para', $Maml, $p) }
}

function Write-Description([System.Xml.XmlWriter] $W, $Paragraphs) {
    $W.WriteStartElement('description', $Maml)
    Write-Para $W $Paragraphs
    $W.WriteEndElement()
}

function Write-Parameter([System.Xml.XmlWriter] $W, $Parameter, $Metadata, [hashtable] $Combined) {
    $meta = $Metadata
    $W.WriteStartElement('parameter', $Command)
    $W.WriteAttributeString('required', $(if ($Combined) { $Combined.Required } else { $meta.Required }))
    $W.WriteAttributeString('variableLength', $(if ($meta.Type -match '\[\]$') { 'true' } else { 'false' }))
    $W.WriteAttributeString('globbing', $meta.Globbing)
    $W.WriteAttributeString('pipelineInput', $meta.PipelineInput)
    $W.WriteAttributeString('position', $(if ($Combined) { $Combined.Position } else { $meta.Position.ToLowerInvariant() }))
    $W.WriteAttributeString('aliases', $(if ($meta.Aliases.Count) { $meta.Aliases -join ', ' } else { 'none' }))
    $W.WriteElementString('name', $Maml, $Parameter.Name)
    Write-Description $W $Parameter.Description
    if ($meta.AcceptedValues.Count) {
        $W.WriteStartElement('parameterValueGroup', $Command)
        foreach ($v in $meta.AcceptedValues) {
            $W.WriteStartElement('parameterValue', $Command)
            $W.WriteAttributeString('required', 'false'); $W.WriteAttributeString('variableLength', 'false')
            $W.WriteString($v); $W.WriteEndElement()
        }
        $W.WriteEndElement()
    }
    if ($meta.Type -ne 'SwitchParameter') {
        $W.WriteStartElement('parameterValue', $Command)
        $W.WriteAttributeString('required', 'true'); $W.WriteAttributeString('variableLength', 'false')
        $W.WriteString($meta.Type); $W.WriteEndElement()
    }
    $W.WriteStartElement('type', $Dev); $W.WriteElementString('name', $Maml, $meta.Type); $W.WriteElementString('uri', $Maml, ''); $W.WriteEndElement()
    $W.WriteElementString('defaultValue', $Dev, $meta.DefaultValue)
    $W.WriteEndElement()
}

# The order of a syntax line: positional parameters by position, then mandatory ones, then the rest, common ones last.
function Get-SyntaxOrder($Parameter, $Metadata, [int] $Index) {
    $group = if ($Metadata.Position -match '^\d+$') { 0 } elseif ($Metadata.Required -eq 'true') { 1 } elseif ($Parameter.Name -in 'WhatIf', 'Confirm') { 3 } else { 2 }
    $position = if ($Metadata.Position -match '^\d+$') { [int] $Metadata.Position } else { 0 }
    return '{0}{1:D4}{2:D4}' -f $group, $position, $Index
}

function Write-CommandHelp([System.Xml.XmlWriter] $W, $Help) {
    $verb, $noun = $Help.Name -split '-', 2
    $W.WriteStartElement('command', 'command', $Command)
    $W.WriteAttributeString('xmlns', 'maml', $null, $Maml)
    $W.WriteAttributeString('xmlns', 'command', $null, $Command)
    $W.WriteAttributeString('xmlns', 'dev', $null, $Dev)

    $W.WriteStartElement('details', $Command)
    $W.WriteElementString('name', $Command, $Help.Name)
    $W.WriteElementString('verb', $Command, $verb)
    $W.WriteElementString('noun', $Command, $noun)
    Write-Description $W @($Help.Synopsis)
    $W.WriteEndElement()

    Write-Description $W $Help.Description

    # Parameter sets: those the SYNTAX section names, else those the metadata names, else the one set of every cmdlet.
    $sets = @($Help.ParameterSets | ForEach-Object Name)
    if (-not $sets) { $sets = @($Help.Parameters.Metadata.ParameterSets | Where-Object { $_ -ne '(All)' } | Select-Object -Unique) }
    if (-not $sets) { $sets = @('__AllParameterSets') }
    foreach ($p in $Help.Parameters) {
        foreach ($s in $p.Metadata.ParameterSets) {
            if ($s -ne '(All)' -and $s -notin $sets) { Stop-Conversion $Help.File 0 "-$($p.Name) names parameter set '$s', which the SYNTAX section does not." }
        }
    }
    $W.WriteStartElement('syntax', $Command)
    foreach ($set in $sets) {
        $W.WriteStartElement('syntaxItem', $Command)
        $W.WriteElementString('name', $Maml, $Help.Name)
        $index = 0
        $inSet = foreach ($p in $Help.Parameters) {
            $meta = Get-SetMetadata $p $set
            $index++
            if ($meta) { [pscustomobject]@{ Parameter = $p; Metadata = $meta; Order = (Get-SyntaxOrder $p $meta $index) } }
        }
        foreach ($item in @($inSet) | Sort-Object Order) { Write-Parameter $W $item.Parameter $item.Metadata $null }
        $W.WriteEndElement()
    }
    $W.WriteEndElement()

    $W.WriteStartElement('parameters', $Command)
    foreach ($p in $Help.Parameters) {
        # Get-Help reads 'required' as a boolean: a parameter mandatory in some sets only says which in its description.
        $combined = $null
        $description = $p.Description
        if ($p.Metadata.Count -gt 1) {
            $mandatory = @($p.Metadata | Where-Object Required -EQ 'true' | ForEach-Object { $_.ParameterSets })
            $optional = @($p.Metadata | Where-Object Required -EQ 'false' | ForEach-Object { $_.ParameterSets })
            $position = @($p.Metadata | ForEach-Object { $_.Position.ToLowerInvariant() } | Select-Object -Unique)
            $combined = @{
                Required = $(if ($mandatory) { 'true' } else { 'false' })
                Position = $(if ($position.Count -eq 1) { $position[0] } else { ($p.Metadata | ForEach-Object { "$($_.Position.ToLowerInvariant()) ($($_.ParameterSets -join ', '))" }) -join ', ' })
            }
            if ($mandatory -and $optional) {
                $description = [System.Collections.Generic.List[string]]::new([string[]] @($p.Description))
                $description.Add("Required in the parameter set$(if ($mandatory.Count -gt 1) { 's' }) $($mandatory -join ', '); optional in $($optional -join ', ').")
            }
        }
        $p = [pscustomobject]@{ Name = $p.Name; Description = $description; Metadata = $p.Metadata }
        Write-Parameter $W $p $p.Metadata[0] $combined
    }
    $W.WriteEndElement()

    foreach ($kind in @(@{ List = $Help.Inputs; Outer = 'inputTypes'; Inner = 'inputType' }, @{ List = $Help.Outputs; Outer = 'returnValues'; Inner = 'returnValue' })) {
        $W.WriteStartElement($kind.Outer, $Command)
        foreach ($item in $kind.List) {
            $W.WriteStartElement($kind.Inner, $Command)
            $W.WriteStartElement('type', $Dev); $W.WriteElementString('name', $Maml, $item.Type); $W.WriteEndElement()
            Write-Description $W $item.Description
            $W.WriteEndElement()
        }
        $W.WriteEndElement()
    }

    $W.WriteStartElement('alertSet', $Maml)
    if ($Help.Notes) {
        $W.WriteStartElement('alert', $Maml); Write-Para $W $Help.Notes; $W.WriteEndElement()
    }
    $W.WriteEndElement()

    $W.WriteStartElement('examples', $Command)
    foreach ($example in $Help.Examples) {
        $W.WriteStartElement('example', $Command)
        $title = " $($example.Title) "
        $pad = [Math]::Max(4, [int]((64 - $title.Length) / 2))
        $W.WriteElementString('title', $Maml, ('-' * $pad) + $title + ('-' * $pad))
        $W.WriteStartElement('introduction', $Maml); Write-Para $W $example.Introduction; $W.WriteEndElement()
        $W.WriteElementString('code', $Dev, $example.Code)
        $W.WriteStartElement('remarks', $Dev); Write-Para $W (@($example.Remarks) + ''); $W.WriteEndElement()
        $W.WriteEndElement()
    }
    $W.WriteEndElement()

    $W.WriteStartElement('relatedLinks', $Command)
    $links = @()
    if ($Help.OnlineVersion) { $links += [pscustomobject]@{ Text = 'Online Version:'; Uri = $Help.OnlineVersion } }
    foreach ($link in @($links) + @($Help.Links)) {
        $W.WriteStartElement('navigationLink', $Maml)
        $W.WriteElementString('linkText', $Maml, $link.Text)
        $W.WriteElementString('uri', $Maml, $link.Uri)
        $W.WriteEndElement()
    }
    $W.WriteEndElement()

    $W.WriteEndElement()
}

$files = foreach ($p in $Path) {
    $resolved = Resolve-Path -Path $p
    foreach ($r in $resolved) {
        if (Test-Path -LiteralPath $r.ProviderPath -PathType Container) { Get-ChildItem -LiteralPath $r.ProviderPath -Filter '*.md' -File | Sort-Object Name }
        else { Get-Item -LiteralPath $r.ProviderPath }
    }
}
if (-not $files) { throw "No markdown help found in $($Path -join ', ')." }
$helps = foreach ($f in $files) { Read-CmdletHelp $f.FullName }
$duplicates = $helps | Group-Object Name | Where-Object Count -GT 1
if ($duplicates) { throw "Help for $($duplicates[0].Name) is written twice: $($duplicates[0].Group.File -join ', ')." }

$target = [System.IO.Path]::GetFullPath($OutputPath)
$folder = Split-Path $target
if (-not (Test-Path $folder)) { New-Item -ItemType Directory -Path $folder | Out-Null }
$settings = [System.Xml.XmlWriterSettings]::new()
$settings.Indent = $true
$settings.Encoding = [System.Text.UTF8Encoding]::new($false)
$writer = [System.Xml.XmlWriter]::Create($target, $settings)
try {
    $writer.WriteStartDocument()
    $writer.WriteStartElement('helpItems', 'http://msh')
    $writer.WriteAttributeString('schema', 'maml')
    foreach ($help in $helps) { Write-CommandHelp $writer $help }
    $writer.WriteEndElement()
    $writer.WriteEndDocument()
} finally {
    $writer.Dispose()
}
Write-Verbose "Wrote help for $(@($helps).Count) cmdlets to $target."
Get-Item -LiteralPath $target
