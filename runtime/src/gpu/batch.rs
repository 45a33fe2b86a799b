//! Pending work: dispatches recorded into one command encoder and submitted together.
//! Kernel parameters go into 64 KiB uniform arenas at aligned offsets, written through the
//! queue (ordered before the submit that uses them); arenas are reused after each submit.

use super::pipeline::Pipeline;
use super::Bind;

pub(super) const MAX_DISPATCHES: usize = 256;
const ARENA: u64 = 64 * 1024;

pub(super) struct Batch {
    encoder: Option<wgpu::CommandEncoder>,
    arenas: Vec<wgpu::Buffer>,
    arena: usize,
    offset: u64,
    align: u64,
    count: usize,
}

impl Batch {
    pub fn new(align: u64) -> Batch {
        Batch { encoder: None, arenas: Vec::new(), arena: 0, offset: 0, align: align.max(16), count: 0 }
    }

    pub fn len(&self) -> usize {
        self.count
    }

    fn params(&mut self, device: &wgpu::Device, queue: &wgpu::Queue, params: &[u8]) -> (usize, u64, u64) {
        let size = (params.len() as u64).max(16).next_multiple_of(16);
        if self.offset + size > ARENA {
            self.arena += 1;
            self.offset = 0;
        }
        if self.arena == self.arenas.len() {
            self.arenas.push(device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("params"),
                size: ARENA,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }));
        }
        let mut data = params.to_vec();
        data.resize(size as usize, 0);
        queue.write_buffer(&self.arenas[self.arena], self.offset, &data);
        let at = (self.arena, self.offset, size);
        self.offset = (self.offset + size).next_multiple_of(self.align);
        at
    }

    pub fn record(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        p: &Pipeline,
        params: &[u8],
        binds: &[(u32, Bind)],
        groups: [u32; 3],
    ) {
        let (arena, offset, size) = self.params(device, queue, params);
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: &self.arenas[arena],
                offset,
                size: std::num::NonZeroU64::new(size),
            }),
        }];
        for (b, bind) in binds.iter().filter(|(b, _)| p.bindings.iter().any(|(u, _)| u == b)) {
            let cap = bind.tensor.capacity();
            let size = bind.size.max(4).next_multiple_of(4).min(cap - bind.offset);
            entries.push(wgpu::BindGroupEntry {
                binding: *b,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: bind.tensor.buffer(),
                    offset: bind.offset,
                    size: std::num::NonZeroU64::new(size),
                }),
            });
        }
        let group = device.create_bind_group(&wgpu::BindGroupDescriptor { label: None, layout: &p.layout, entries: &entries });
        let encoder = self.encoder.get_or_insert_with(|| device.create_command_encoder(&Default::default()));
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_pipeline(&p.pipeline);
            pass.set_bind_group(0, &group, &[]);
            pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
        }
        self.count += 1;
    }

    pub fn submit(&mut self, queue: &wgpu::Queue) {
        if let Some(enc) = self.encoder.take() {
            queue.submit([enc.finish()]);
        }
        self.count = 0;
        self.arena = 0;
        self.offset = 0;
    }
}
