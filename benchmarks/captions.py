"""A caption set written in the MidiCaps style (the text-to-MIDI papers' dataset), each caption with the attributes
it asks for, for benchmarks/composing.py's attribute metrics. Written here, not taken from MidiCaps: the held-out
check uses captions nobody here has seen, so these cover every family of word (genres, instruments, meters, tempo
markings and words, BPM numbers, major and minor keys with sharps and flats) rather than copy any caption."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Caption:
    text: str
    tempo: str  # a tempo marking ("Moderato"), a tempo word ("slow") or a BPM number ("150")
    key: str  # "F minor", "Bb major"
    time_signature: str  # "4/4"
    instruments: tuple[str, ...]  # as the caption names them ("drums" is the drum kit)


CAPTIONS: tuple[Caption, ...] = (
    Caption(
        "A melodic electronic song with ambient elements, featuring synth pad, synth lead, electric bass, piano "
        "and drums. It is set in F minor with a 4/4 time signature and moves at a Moderato tempo. The mood is "
        "dark and meditative, and the main chord progression is Fm, Db, Ab, Eb.",
        "Moderato",
        "F minor",
        "4/4",
        ("synth pad", "synth lead", "electric bass", "piano", "drums"),
    ),
    Caption(
        "This classical piece features string ensemble, violin, viola, cello and contrabass. Set in D major with "
        "a 3/4 time signature at an Andante tempo, it evokes a romantic, relaxing atmosphere.",
        "Andante",
        "D major",
        "3/4",
        ("string ensemble", "violin", "viola", "cello", "contrabass"),
    ),
    Caption(
        "A fast rock song with distortion guitar, overdriven guitar, electric bass and drums in E minor. The time "
        "signature is 4/4 and the tempo is 150 bpm; energetic and epic.",
        "150",
        "E minor",
        "4/4",
        ("distortion guitar", "overdriven guitar", "electric bass", "drums"),
    ),
    Caption(
        "A short jazz piece with piano, acoustic bass, tenor saxophone, trumpet and drums in Bb major; the tempo "
        "is Allegro. The chord sequence follows Cm7, F7, Bbmaj7.",
        "Allegro",
        "Bb major",
        "4/4",
        ("piano", "acoustic bass", "tenor saxophone", "trumpet", "drums"),
    ),
    Caption(
        "A country song featuring banjo, fiddle, acoustic guitar, harmonica and acoustic bass, in G major, 2/4, "
        "Vivace.",
        "Vivace",
        "G major",
        "2/4",
        ("banjo", "fiddle", "acoustic guitar", "harmonica", "acoustic bass"),
    ),
    Caption(
        "A cinematic soundtrack piece with french horn, timpani, string ensemble, choir aahs and orchestral harp, "
        "in C minor, 4/4, slow tempo; epic, dark and dramatic, suitable for film.",
        "slow",
        "C minor",
        "4/4",
        ("french horn", "timpani", "string ensemble", "choir aahs", "orchestral harp"),
    ),
    Caption(
        "A calm ambient track with synth pad, electric piano and synth strings. It is in A major, 4/4, at an "
        "Adagio tempo, and feels meditative and relaxing.",
        "Adagio",
        "A major",
        "4/4",
        ("synth pad", "electric piano", "synth strings"),
    ),
    Caption(
        "An energetic metal song with distortion guitar, electric bass and drums, set in D minor with a 4/4 time "
        "signature and a Presto tempo. Heavy, dark and powerful.",
        "Presto",
        "D minor",
        "4/4",
        ("distortion guitar", "electric bass", "drums"),
    ),
    Caption(
        "A pop song with piano, electric guitar, electric bass, synth strings and drums in C major. The time "
        "signature is 4/4 and the tempo is 118 bpm; happy and upbeat.",
        "118",
        "C major",
        "4/4",
        ("piano", "electric guitar", "electric bass", "synth strings", "drums"),
    ),
    Caption(
        "A melancholic blues piece featuring clean electric guitar, hammond organ, acoustic bass and drums, set in "
        "A minor with a 4/4 time signature at an Andante tempo.",
        "Andante",
        "A minor",
        "4/4",
        ("clean electric guitar", "hammond organ", "acoustic bass", "drums"),
    ),
    Caption(
        "A folk song with acoustic guitar, violin, flute and accordion in G major. The time signature is 3/4 and "
        "it moves at a Moderato tempo, evoking a happy, nostalgic mood.",
        "Moderato",
        "G major",
        "3/4",
        ("acoustic guitar", "violin", "flute", "accordion"),
    ),
    Caption(
        "A trance track with synth lead, synth pad, synth bass and drums. It is set in F# minor with a 4/4 time "
        "signature at 138 bpm; uplifting, energetic and emotional.",
        "138",
        "F# minor",
        "4/4",
        ("synth lead", "synth pad", "synth bass", "drums"),
    ),
    Caption(
        "A techno piece featuring synth bass, synth effects, synth lead and drums, in G minor, 4/4, Allegro; dark "
        "and hypnotic.",
        "Allegro",
        "G minor",
        "4/4",
        ("synth bass", "synth effects", "synth lead", "drums"),
    ),
    Caption(
        "A house song with electric piano, synth bass, synth pad and drums in Eb major. The tempo is 124 bpm and "
        "the time signature is 4/4; groovy and positive, suitable for a party.",
        "124",
        "Eb major",
        "4/4",
        ("electric piano", "synth bass", "synth pad", "drums"),
    ),
    Caption(
        "A classical waltz for piano and string ensemble in F major with a 3/4 time signature, at a Vivace tempo; "
        "romantic and happy.",
        "Vivace",
        "F major",
        "3/4",
        ("piano", "string ensemble"),
    ),
    Caption(
        "An orchestral piece featuring oboe, clarinet, bassoon, flute, french horn and string ensemble. Set in "
        "Eb major with a 4/4 time signature at a Largo tempo, it feels calm and hopeful.",
        "Largo",
        "Eb major",
        "4/4",
        ("oboe", "clarinet", "bassoon", "flute", "french horn", "string ensemble"),
    ),
    Caption(
        "A reggae song with clean electric guitar, hammond organ, electric bass and drums in B minor; the tempo is "
        "Andante and the time signature is 4/4. Relaxing and positive.",
        "Andante",
        "B minor",
        "4/4",
        ("clean electric guitar", "hammond organ", "electric bass", "drums"),
    ),
    Caption(
        "A funk track featuring slap bass, clean electric guitar, brass section, electric piano and drums, in E "
        "minor, 4/4, at 108 bpm; groovy and fun.",
        "108",
        "E minor",
        "4/4",
        ("slap bass", "clean electric guitar", "brass section", "electric piano", "drums"),
    ),
    Caption(
        "A soul song with electric piano, electric bass, alto saxophone and drums in Ab major. The time signature "
        "is 4/4 and the tempo is Andante; romantic, warm and emotional.",
        "Andante",
        "Ab major",
        "4/4",
        ("electric piano", "electric bass", "alto saxophone", "drums"),
    ),
    Caption(
        "A disco song with string ensemble, electric guitar, electric bass, synth brass and drums, set in A minor "
        "with a 4/4 time signature at an Allegro tempo. Happy, groovy and energetic.",
        "Allegro",
        "A minor",
        "4/4",
        ("string ensemble", "electric guitar", "electric bass", "synth brass", "drums"),
    ),
    Caption(
        "A dubstep track with synth bass, synth lead, synth voice and drums, in F minor, 4/4, 140 bpm; heavy, "
        "dark and aggressive.",
        "140",
        "F minor",
        "4/4",
        ("synth bass", "synth lead", "synth voice", "drums"),
    ),
    Caption(
        "A drum and bass track featuring synth bass, synth pad, piano and drums, set in D minor with a 4/4 time "
        "signature at a Prestissimo tempo; energetic and dark.",
        "Prestissimo",
        "D minor",
        "4/4",
        ("synth bass", "synth pad", "piano", "drums"),
    ),
    Caption(
        "A hip hop beat with piano, synth bass, string ensemble and drums in C minor. The time signature is 4/4 "
        "and the tempo is 90 bpm; dark, cool and confident.",
        "90",
        "C minor",
        "4/4",
        ("piano", "synth bass", "string ensemble", "drums"),
    ),
    Caption(
        "A lofi piece with electric piano, acoustic bass, vibraphone and drums, in Db major, 4/4, at a slow "
        "tempo; relaxing, soft and nostalgic.",
        "slow",
        "Db major",
        "4/4",
        ("electric piano", "acoustic bass", "vibraphone", "drums"),
    ),
    Caption(
        "A new age piece featuring synth pad, piano, flute and choir aahs. It is in E major with a 4/4 time "
        "signature at a Largo tempo; meditative, calm and dreamy.",
        "Largo",
        "E major",
        "4/4",
        ("synth pad", "piano", "flute", "choir aahs"),
    ),
    Caption(
        "A march for brass section, trumpet, trombone, tuba, snare and timpani in Bb major with a 2/4 time "
        "signature at a Moderato tempo; powerful and motivational.",
        "Moderato",
        "Bb major",
        "2/4",
        ("brass section", "trumpet", "trombone", "tuba", "timpani"),
    ),
    Caption(
        "A latin song with acoustic guitar, trumpet, acoustic bass and drums in D minor; the time signature is "
        "4/4 and the tempo is Allegro. Happy, summer and dance.",
        "Allegro",
        "D minor",
        "4/4",
        ("acoustic guitar", "trumpet", "acoustic bass", "drums"),
    ),
    Caption(
        "A bossa nova piece featuring acoustic guitar, piano, acoustic bass, flute and drums, set in F major "
        "with a 4/4 time signature and a Moderato tempo; relaxing and romantic.",
        "Moderato",
        "F major",
        "4/4",
        ("acoustic guitar", "piano", "acoustic bass", "flute", "drums"),
    ),
    Caption(
        "A cinematic piece for string ensemble, cello, piano and choir aahs in G minor with a 6/8 time "
        "signature, at an Adagio tempo; sad, emotional and dramatic.",
        "Adagio",
        "G minor",
        "6/8",
        ("string ensemble", "cello", "piano", "choir aahs"),
    ),
    Caption(
        "An electronic song with synth lead, synth bass, synth pad and drums, in B major, 4/4, at 128 bpm; "
        "uplifting, energetic and happy.",
        "128",
        "B major",
        "4/4",
        ("synth lead", "synth bass", "synth pad", "drums"),
    ),
    Caption(
        "A rock ballad with overdriven guitar, acoustic guitar, electric bass, piano and drums in D major; the "
        "time signature is 6/8 and the tempo is Andante. Emotional and love.",
        "Andante",
        "D major",
        "6/8",
        ("overdriven guitar", "acoustic guitar", "electric bass", "piano", "drums"),
    ),
    Caption(
        "A classical piece featuring harpsichord, violin and cello, set in A minor with a 3/4 time signature at a "
        "Allegro tempo; dramatic and elegant.",
        "Allegro",
        "A minor",
        "3/4",
        ("harpsichord", "violin", "cello"),
    ),
    Caption(
        "A jazz song with trumpet, trombone, piano, acoustic bass and drums in F major; the tempo is 160 bpm and "
        "the time signature is 4/4. The main chord progression is Gm7, C7, Fmaj7.",
        "160",
        "F major",
        "4/4",
        ("trumpet", "trombone", "piano", "acoustic bass", "drums"),
    ),
    Caption(
        "A country ballad featuring acoustic guitar, pedal steel guitar, fiddle and acoustic bass, in E major, "
        "3/4, Adagio; sad and nostalgic.",
        "Adagio",
        "E major",
        "3/4",
        ("acoustic guitar", "fiddle", "acoustic bass"),
    ),
    Caption(
        "An ambient soundscape with synth pad, synth effects, pad and celesta in C# minor, 4/4, at a Grave "
        "tempo; dark, deep and space.",
        "Grave",
        "C# minor",
        "4/4",
        ("synth pad", "synth effects", "celesta"),
    ),
    Caption(
        "A pop song with synth lead, electric piano, synth bass and drums in A major, 4/4, at a fast tempo; "
        "happy, upbeat and fun. The chords are A, E, F#m, D.",
        "fast",
        "A major",
        "4/4",
        ("synth lead", "electric piano", "synth bass", "drums"),
    ),
    Caption(
        "A blues song featuring electric guitar, harmonica, electric bass and drums, in E major, 4/4 time, at a "
        "Moderato tempo; the main chord progression is E7, A7, E7, B7.",
        "Moderato",
        "E major",
        "4/4",
        ("electric guitar", "harmonica", "electric bass", "drums"),
    ),
    Caption(
        "A soundtrack piece with piano, string ensemble, french horn and timpani, set in Bb minor with a 4/4 time "
        "signature at an Andante tempo; epic, dark and suitable for a trailer.",
        "Andante",
        "Bb minor",
        "4/4",
        ("piano", "string ensemble", "french horn", "timpani"),
    ),
    Caption(
        "A trance song with synth lead, synth strings, synth bass and drums, set in E minor with a 4/4 time "
        "signature and a Vivace tempo; euphoric and uplifting.",
        "Vivace",
        "E minor",
        "4/4",
        ("synth lead", "synth strings", "synth bass", "drums"),
    ),
    Caption(
        "A folk piece with acoustic guitar, banjo, accordion and acoustic bass in C major with a 6/8 time "
        "signature at an Allegro tempo; happy and playful.",
        "Allegro",
        "C major",
        "6/8",
        ("acoustic guitar", "banjo", "accordion", "acoustic bass"),
    ),
    Caption(
        "A classical piece for piano solo in E minor with a 4/4 time signature at a Largo tempo; sad, "
        "melancholic and romantic.",
        "Largo",
        "E minor",
        "4/4",
        ("piano",),
    ),
    Caption(
        "A metal song featuring distortion guitar, electric bass, drums and choir aahs, in C# minor with a 4/4 "
        "time signature; the tempo is 180 bpm. Aggressive, epic and heavy.",
        "180",
        "C# minor",
        "4/4",
        ("distortion guitar", "electric bass", "drums", "choir aahs"),
    ),
    Caption(
        "A chillout song with electric piano, synth pad, fretless bass and drums in G major, 4/4, at a "
        "moderate tempo; relaxing, calm and soft.",
        "moderate",
        "G major",
        "4/4",
        ("electric piano", "synth pad", "fretless bass", "drums"),
    ),
    Caption(
        "A house track with piano, synth bass, synth lead and drums, in F minor, 4/4, 122 bpm; groovy and "
        "energetic. The main chord progression is Fm, Db, Eb, Cm.",
        "122",
        "F minor",
        "4/4",
        ("piano", "synth bass", "synth lead", "drums"),
    ),
    Caption(
        "An orchestral piece featuring string ensemble, trumpet, french horn, timpani and piccolo, set in D "
        "major with a 2/4 time signature at a Presto tempo; triumphant, epic and powerful.",
        "Presto",
        "D major",
        "2/4",
        ("string ensemble", "trumpet", "french horn", "timpani", "piccolo"),
    ),
    Caption(
        "A downtempo electronic track with synth pad, electric piano, synth bass and drums, in Ab minor, 4/4, at "
        "an Andante tempo; dark, deep and meditative.",
        "Andante",
        "Ab minor",
        "4/4",
        ("synth pad", "electric piano", "synth bass", "drums"),
    ),
    Caption(
        "A world music piece with sitar, flute, acoustic bass and drums in D minor with a 7/8 time signature at "
        "an Allegro tempo; mysterious and travel.",
        "Allegro",
        "D minor",
        "7/8",
        ("sitar", "flute", "acoustic bass", "drums"),
    ),
    Caption(
        "A romantic piece for cello and piano, in Db major with a 12/8 time signature at an Adagio tempo; "
        "emotional and soft.",
        "Adagio",
        "Db major",
        "12/8",
        ("cello", "piano"),
    ),
    Caption(
        "A rnb song featuring electric piano, synth bass, synth pad and drums, in Eb minor, 4/4, at 72 bpm; sexy, "
        "smooth and romantic.",
        "72",
        "Eb minor",
        "4/4",
        ("electric piano", "synth bass", "synth pad", "drums"),
    ),
    Caption(
        "An energetic rock song with electric guitar, hammond organ, electric bass and drums in A major; the time "
        "signature is 4/4 and the tempo is very fast. The chord sequence follows A, D, E.",
        "very fast",
        "A major",
        "4/4",
        ("electric guitar", "hammond organ", "electric bass", "drums"),
    ),
    Caption(
        "A cinematic soundtrack with string ensemble, orchestral harp, flute and celesta, in F# major with a 3/4 "
        "time signature at a Moderato tempo; dreamy, hopeful and magical.",
        "Moderato",
        "F# major",
        "3/4",
        ("string ensemble", "orchestral harp", "flute", "celesta"),
    ),
    # Written by the lead as a check on captions the helpers who built the composer's caption reading had not seen.
    Caption(
        "A blues song with an electric guitar lead, hammond organ, electric bass and drums. Key of A major, "
        "12/8 time, slow.",
        "slow",
        "A major",
        "12/8",
        ("electric guitar", "hammond organ", "electric bass", "drums"),
    ),
    Caption(
        "This is a metal song. It features distortion guitar, electric bass and drums, in D minor at Presto, "
        "and the time signature is 4/4; aggressive and heavy.",
        "Presto",
        "D minor",
        "4/4",
        ("distortion guitar", "electric bass", "drums"),
    ),
    Caption(
        "Relaxing lounge music featuring vibraphone, acoustic bass, nylon guitar and brush drums; F major, "
        "4/4, Andante.",
        "Andante",
        "F major",
        "4/4",
        ("vibraphone", "acoustic bass", "acoustic guitar", "drums"),
    ),
    Caption(
        "A reggae tune in G major with clean electric guitar, hammond organ, slap bass and drums. Moderate "
        "tempo, 4/4 meter.",
        "moderate",
        "G major",
        "4/4",
        ("clean electric guitar", "hammond organ", "slap bass", "drums"),
    ),
    Caption(
        "A Largo film score in Eb minor, 3/4, for cello, contrabass, oboe and french horn. Sad and emotional.",
        "Largo",
        "Eb minor",
        "3/4",
        ("cello", "contrabass", "oboe", "french horn"),
    ),
    Caption(
        "An upbeat disco track with synth strings, slap bass, brass section, clavinet and drums, set in C# "
        "minor with 4/4 and a tempo of 122 bpm.",
        "122",
        "C# minor",
        "4/4",
        ("synth strings", "slap bass", "brass section", "clavinet", "drums"),
    ),
    Caption(
        "A trance song in A minor featuring synth lead, synth pad, synth bass and drums, Allegro, 4/4, euphoric.",
        "Allegro",
        "A minor",
        "4/4",
        ("synth lead", "synth pad", "synth bass", "drums"),
    ),
    Caption(
        "Folk music with accordion, fiddle, acoustic guitar and banjo in D major; time signature 6/8; Vivace;"
        " happy and fun.",
        "Vivace",
        "D major",
        "6/8",
        ("accordion", "fiddle", "acoustic guitar", "banjo"),
    ),
    Caption(
        "A bossa nova piece featuring nylon guitar, flute, acoustic bass and percussion in E minor at a "
        "Moderato tempo in 2/4.",
        "Moderato",
        "E minor",
        "2/4",
        ("acoustic guitar", "flute", "acoustic bass"),
    ),
    Caption(
        "A short ambient piece with synth pad, electric piano and seashore sounds in B major, very slow, in "
        "5/4; calm and dreamy.",
        "slow",
        "B major",
        "5/4",
        ("synth pad", "electric piano", "seashore"),
    ),
    Caption(
        "A dark orchestral composition with timpani, tuba, trombone, trumpet and string ensemble, set in F# "
        "minor, 4/4, Adagio; dramatic and epic.",
        "Adagio",
        "F# minor",
        "4/4",
        ("timpani", "tuba", "trombone", "trumpet", "string ensemble"),
    ),
    Caption(
        "A funk song featuring slap bass, clean electric guitar, alto saxophone and drums in E minor, 4/4, "
        "108 bpm. Groovy.",
        "108",
        "E minor",
        "4/4",
        ("slap bass", "clean electric guitar", "alto saxophone", "drums"),
    ),
    Caption(
        "Country song with steel guitar, fiddle, acoustic bass and drums. C major, 2/4, fast.",
        "fast",
        "C major",
        "2/4",
        ("acoustic guitar", "fiddle", "acoustic bass", "drums"),
    ),
    Caption(
        "A techno piece with synth bass, synth drum, reverse cymbal and drums in G minor at 130 BPM in 4/4; "
        "hypnotic and dark.",
        "130",
        "G minor",
        "4/4",
        ("synth bass", "synth drum", "reverse cymbal", "drums"),
    ),
    Caption(
        "A classical waltz in Ab major with piano, violin and cello; Allegretto; romantic and elegant.",
        "Allegro",
        "Ab major",
        "3/4",
        ("piano", "violin", "cello"),
    ),
    Caption(
        "A jazz ballad for tenor sax, piano, acoustic bass and drums in Db major, slow tempo, 4/4, with "
        "chords Ebm7, Ab7, Dbmaj7.",
        "slow",
        "Db major",
        "4/4",
        ("tenor saxophone", "piano", "acoustic bass", "drums"),
    ),
    Caption(
        "An electronic pop song with synth voice, synth brass, electric bass, drums and piano in B minor, "
        "4/4; the tempo is Allegro; happy.",
        "Allegro",
        "B minor",
        "4/4",
        ("synth voice", "synth brass", "electric bass", "drums", "piano"),
    ),
    Caption(
        "A meditative new age song featuring kalimba, pan flute, shakuhachi and choir aahs in D minor, Adagio, 4/4.",
        "Adagio",
        "D minor",
        "4/4",
        ("kalimba", "pan flute", "shakuhachi", "choir aahs"),
    ),
    Caption(
        "Rock song in A minor, 4/4, fast, with overdriven guitar, distortion guitar, electric bass, drums.",
        "fast",
        "A minor",
        "4/4",
        ("overdriven guitar", "distortion guitar", "electric bass", "drums"),
    ),
    Caption(
        "A march in Bb major with trumpet, trombone, tuba, piccolo and drums, 2/4, Allegro.",
        "Allegro",
        "Bb major",
        "2/4",
        ("trumpet", "trombone", "tuba", "piccolo", "drums"),
    ),
    Caption(
        "A soul song with rhodes piano, electric bass, tenor saxophone, drums in F minor, 4/4, Andante, romantic.",
        "Andante",
        "F minor",
        "4/4",
        ("piano", "electric bass", "tenor saxophone", "drums"),
    ),
    Caption(
        "A hip-hop beat with piano, synth bass and drums in C minor at 90 BPM, 4/4, dark and moody.",
        "90",
        "C minor",
        "4/4",
        ("piano", "synth bass", "drums"),
    ),
    Caption(
        "A latin song with marimba, trumpet, acoustic guitar and acoustic bass in G minor, 4/4, Presto, "
        "energetic and party.",
        "Presto",
        "G minor",
        "4/4",
        ("marimba", "trumpet", "acoustic guitar", "acoustic bass"),
    ),
    Caption(
        "A cinematic piece with music box, celesta, string ensemble and harp, in E major, 9/8, Moderato, "
        "magical and christmas.",
        "Moderato",
        "E major",
        "9/8",
        ("music box", "celesta", "string ensemble", "orchestral harp"),
    ),
    Caption(
        "A drum and bass track with synth bass, synth pad, piano and drums, F minor, 174 bpm, 4/4, energetic.",
        "174",
        "F minor",
        "4/4",
        ("synth bass", "synth pad", "piano", "drums"),
    ),
)
