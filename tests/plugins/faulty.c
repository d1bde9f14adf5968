/* Three LV2 instruments that fail on purpose, for the plugin host's fault tests (tests/faulty_plugins.py builds
 * this file into tests/plugins/faulty.lv2, whose TTL describes them):
 *   urn:dgx-music:test:crash  segfaults in run() at the first note-on it is given,
 *   urn:dgx-music:test:hang   never returns from its first run(),
 *   urn:dgx-music:test:nan    writes NaN to both outputs.
 * Ports: 0 MIDI in (an atom sequence), 1 and 2 audio out. The few LV2 types are declared here, as lv2/core/lv2.h
 * and lv2/atom/atom.h define them, so that no LV2 headers need be installed. */

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct LV2_Descriptor {
    const char *URI;
    void *(*instantiate)(const struct LV2_Descriptor *descriptor, double sample_rate, const char *bundle_path,
                         const void *const *features);
    void (*connect_port)(void *instance, uint32_t port, void *data);
    void (*activate)(void *instance);
    void (*run)(void *instance, uint32_t sample_count);
    void (*deactivate)(void *instance);
    void (*cleanup)(void *instance);
    const void *(*extension_data)(const char *uri);
} LV2_Descriptor;

typedef struct {
    uint32_t size;
    uint32_t type;
} LV2_Atom;

typedef struct {
    LV2_Atom atom;
    uint32_t unit;
    uint32_t pad;
} LV2_Atom_Sequence; /* followed by events, each 8-byte aligned */

typedef struct {
    int64_t frames;
    LV2_Atom body; /* followed by body.size bytes: here, a MIDI message */
} LV2_Atom_Event;

enum { PORT_MIDI_IN, PORT_OUT_LEFT, PORT_OUT_RIGHT, PORT_COUNT };

typedef struct {
    const LV2_Atom_Sequence *midi_in;
    float *outputs[2];
} Faulty;

static void *instantiate(const LV2_Descriptor *descriptor, double sample_rate, const char *bundle_path,
                         const void *const *features) {
    (void)descriptor, (void)sample_rate, (void)bundle_path, (void)features;
    return calloc(1, sizeof(Faulty));
}

static void connect_port(void *instance, uint32_t port, void *data) {
    Faulty *self = instance;
    if (port == PORT_MIDI_IN)
        self->midi_in = data;
    else if (port == PORT_OUT_LEFT || port == PORT_OUT_RIGHT)
        self->outputs[port - PORT_OUT_LEFT] = data;
}

static void silence(Faulty *self, uint32_t frames) {
    for (int channel = 0; channel < 2; channel++)
        memset(self->outputs[channel], 0, frames * sizeof(float));
}

static int has_note_on(const LV2_Atom_Sequence *sequence) {
    const char *event = (const char *)(sequence + 1);
    const char *end = (const char *)&sequence->unit + sequence->atom.size;
    while (event < end) {
        const LV2_Atom_Event *header = (const LV2_Atom_Event *)event;
        const uint8_t *message = (const uint8_t *)(header + 1);
        if (header->body.size >= 3 && (message[0] & 0xF0) == 0x90 && message[2] > 0)
            return 1;
        event += (sizeof(LV2_Atom_Event) + header->body.size + 7) & ~(size_t)7;
    }
    return 0;
}

static void run_crash(void *instance, uint32_t frames) {
    Faulty *self = instance;
    silence(self, frames);
    if (has_note_on(self->midi_in)) {
        volatile int *nowhere = NULL;
        *nowhere = 1; /* SIGSEGV, as a plugin's own bug would */
    }
}

static void run_hang(void *instance, uint32_t frames) {
    (void)instance, (void)frames;
    for (;;)
        pause(); /* never returns; only a signal that kills the process ends it */
}

static void run_nan(void *instance, uint32_t frames) {
    Faulty *self = instance;
    for (int channel = 0; channel < 2; channel++)
        for (uint32_t frame = 0; frame < frames; frame++)
            self->outputs[channel][frame] = NAN;
}

static void cleanup(void *instance) { free(instance); }

static const void *extension_data(const char *uri) {
    (void)uri;
    return NULL;
}

static const LV2_Descriptor descriptors[] = {
    {"urn:dgx-music:test:crash", instantiate, connect_port, NULL, run_crash, NULL, cleanup, extension_data},
    {"urn:dgx-music:test:hang", instantiate, connect_port, NULL, run_hang, NULL, cleanup, extension_data},
    {"urn:dgx-music:test:nan", instantiate, connect_port, NULL, run_nan, NULL, cleanup, extension_data},
};

__attribute__((visibility("default"))) const LV2_Descriptor *lv2_descriptor(uint32_t index) {
    return index < sizeof descriptors / sizeof descriptors[0] ? &descriptors[index] : NULL;
}
