"""AMT-S, the frame interpolator of VBench's motion smoothness (Li et al., "AMT: All-Pairs Multi-Field Transforms for
Efficient Frame Interpolation", CVPR 2023), written for the published `amt-s.pth` (its `state_dict` keys).

Given frames I0 and I1 (0..1) and a time t (VBench: 0.5) it predicts the frame at t:
1. both frames lose their joint mean; a RAFT-style feature encoder (instance norm) gives 1/8-scale features and their
   all-pairs correlation, pooled into 4 levels and read in both directions (radius 3);
2. a 4-level convolutional pyramid encodes each frame; decoders from 1/16 to 1/2 scale predict flows t->0 and t->1
   and a feature map of the middle frame, each level warping the frames' features by the flows so far;
3. at 1/8, 1/4 and 1/2 scale an update block reads the correlation at the flows' end points (flow scaled by 1/t and
   1/(1-t), the linear-motion assumption) and corrects flows and features;
4. the last decoder gives 3 flow pairs, blend masks and residuals at full scale; the 3 blended warps are averaged and
   refined by a small convolution (`comb_block`), and the result is clipped to 0..1.
Layer names follow the published file; the code is the pack's own.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

RADIUS, LEVELS, FLOWS = 3, 4, 3  # AMT-S.yaml: corr_radius, corr_lvls, num_flows
PYRAMID = (20, 32, 44, 56)  # the frame encoder's channels at 1/2 .. 1/16 scale
SIDE = 20  # the side channels of the residual blocks
HIDDEN, FLOW_DIM, CORR_DIM, FC_DIM = 76, 20, 64, 68  # update-block widths


def scaled(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Bilinear rescale by `factor` (half-pixel centres)."""
    return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward warp: sample `image` at each pixel + `flow` (pixels), bilinear, edges repeated."""
    batch, _, height, width = flow.shape
    xs = torch.linspace(-1.0, 1.0, width, device=flow.device).view(1, 1, 1, width).expand(batch, 1, height, width)
    ys = torch.linspace(-1.0, 1.0, height, device=flow.device).view(1, 1, height, 1).expand(batch, 1, height, width)
    shift = torch.cat([flow[:, :1] / ((width - 1.0) / 2.0), flow[:, 1:2] / ((height - 1.0) / 2.0)], 1)
    grid = (torch.cat([xs, ys], 1).to(image) + shift).permute(0, 2, 3, 1)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.1)


def conv_prelu(cin: int, cout: int, kernel: int = 3, stride: int = 1, padding: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, padding), nn.PReLU(cout))


class SideResidual(nn.Module):
    """A residual block whose last `side` channels get an extra convolution after each of its first two convs."""

    def __init__(self, channels: int, side: int):
        super().__init__()
        self.side = side
        self.conv1, self.conv3 = conv_prelu(channels, channels), conv_prelu(channels, channels)
        self.conv2, self.conv4 = conv_prelu(side, side), conv_prelu(side, side)
        self.conv5 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.prelu = nn.PReLU(channels)

    def _side(self, x: torch.Tensor, conv: nn.Module) -> torch.Tensor:
        return torch.cat([x[:, : -self.side], conv(x[:, -self.side :])], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self._side(self.conv3(self._side(self.conv1(x), self.conv2)), self.conv4)
        return self.prelu(x + self.conv5(out))


def decoder_block(cin: int, width: int, cout: int) -> nn.Module:
    """conv + PReLU, a side residual block, then a 2x transposed convolution (the decoders' `convblock`)."""
    block = nn.Module()
    block.convblock = nn.Sequential(conv_prelu(cin, width), SideResidual(width, SIDE), nn.ConvTranspose2d(width, cout, 4, 2, 1))
    return block


class Bottleneck(nn.Module):
    """RAFT's bottleneck block with instance norm (no weights); a 1x1 strided projection when it downsamples."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout // 4, 1)
        self.conv2 = nn.Conv2d(cout // 4, cout // 4, 3, stride, 1)
        self.conv3 = nn.Conv2d(cout // 4, cout, 1)
        self.downsample = None if stride == 1 else nn.Sequential(nn.Conv2d(cin, cout, 1, stride), nn.InstanceNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(F.instance_norm(self.conv1(x)))
        y = F.relu(F.instance_norm(self.conv2(y)))
        y = F.relu(F.instance_norm(self.conv3(y)))
        return F.relu((x if self.downsample is None else self.downsample(x)) + y)


class FeatureEncoder(nn.Module):
    """RAFT's small encoder: 1/8-scale features for the correlation volume."""

    def __init__(self, out: int = 84):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 7, 2, 3)
        self.layer1 = nn.Sequential(Bottleneck(32, 32, 1), Bottleneck(32, 32, 1))
        self.layer2 = nn.Sequential(Bottleneck(32, 64, 2), Bottleneck(64, 64, 1))
        self.layer3 = nn.Sequential(Bottleneck(64, 96, 2), Bottleneck(96, 96, 1))
        self.conv2 = nn.Conv2d(96, out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(F.instance_norm(self.conv1(x)))
        return self.conv2(self.layer3(self.layer2(self.layer1(x))))


class UpdateBlock(nn.Module):
    """Reads correlation and flows at 1/8 scale and returns corrections for the features and both flows; a block
    working at a finer scale (`scale` 2 or 4) pools its features down first and scales its outputs back up."""

    def __init__(self, feature_dim: int, scale: int | None):
        super().__init__()
        self.scale = scale
        self.convc1 = nn.Conv2d(2 * LEVELS * (2 * RADIUS + 1) ** 2, CORR_DIM, 1)
        self.convf1 = nn.Conv2d(4, 2 * FLOW_DIM, 7, padding=3)
        self.convf2 = nn.Conv2d(2 * FLOW_DIM, FLOW_DIM, 3, padding=1)
        self.conv = nn.Conv2d(CORR_DIM + FLOW_DIM, FC_DIM, 3, padding=1)
        self.gru = self._head(FC_DIM + 4 + feature_dim, HIDDEN)
        self.feat_head = self._head(HIDDEN, feature_dim)
        self.flow_head = self._head(HIDDEN, 4)

    @staticmethod
    def _head(cin: int, cout: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(cin, HIDDEN, 3, padding=1), nn.LeakyReLU(0.1), nn.Conv2d(HIDDEN, cout, 3, padding=1))

    def forward(self, features: torch.Tensor, flow: torch.Tensor, corr: torch.Tensor):
        if self.scale is not None:
            features = scaled(features, 1 / self.scale)
        motion = torch.cat([_lrelu(self.convc1(corr)), _lrelu(self.convf2(_lrelu(self.convf1(flow))))], 1)
        hidden = self.gru(torch.cat([_lrelu(self.conv(motion)), flow, features], 1))
        delta_features, delta_flow = self.feat_head(hidden), self.flow_head(hidden)
        if self.scale is not None:
            delta_features = scaled(delta_features, self.scale)
            delta_flow = self.scale * scaled(delta_flow, self.scale)
        return delta_features, delta_flow


class Correlation:
    """All-pairs correlation of two 1/8-scale feature maps, pooled into `LEVELS` levels, read around points in
    either frame (RAFT's lookup: a (2r+1)^2 window per level, bilinear, zeros outside)."""

    def __init__(self, fmap0: torch.Tensor, fmap1: torch.Tensor):
        batch, dim, height, width = fmap0.shape
        volume = fmap0.flatten(2).transpose(1, 2) @ fmap1.flatten(2) / torch.sqrt(torch.tensor(dim).float())
        volume = volume.view(batch, height, width, 1, height, width)
        forward = volume.reshape(batch * height * width, 1, height, width)
        backward = volume.permute(0, 4, 5, 3, 1, 2).reshape(batch * height * width, 1, height, width)
        self.pyramids = ([forward], [backward])
        for _ in range(LEVELS - 1):
            for pyramid in self.pyramids:
                pyramid.append(F.avg_pool2d(pyramid[-1], 2, stride=2))

    @staticmethod
    def _read(pyramid: list[torch.Tensor], points: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = points.shape
        steps = torch.linspace(-RADIUS, RADIUS, 2 * RADIUS + 1, device=points.device)
        # RAFT's window: its first axis moves x, its second y (meshgrid 'ij' of (dy, dx) read as (x, y)).
        window = torch.stack(torch.meshgrid(steps, steps, indexing="ij"), -1).view(1, 2 * RADIUS + 1, 2 * RADIUS + 1, 2)
        centres = points.permute(0, 2, 3, 1).reshape(batch * height * width, 1, 1, 2)
        out = []
        for level, volume in enumerate(pyramid):
            where = centres / 2**level + window
            size = volume.shape[-2:]
            grid = torch.cat([2 * where[..., :1] / (size[1] - 1) - 1, 2 * where[..., 1:] / (size[0] - 1) - 1], -1)
            out.append(F.grid_sample(volume, grid, align_corners=True).view(batch, height, width, -1))
        return torch.cat(out, -1).permute(0, 3, 1, 2).contiguous().float()

    def __call__(self, points0: torch.Tensor, points1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._read(self.pyramids[0], points0), self._read(self.pyramids[1], points1)


class AmtS(nn.Module):
    """AMT-S with the published file's layer names; `forward` returns the interpolated frame only."""

    def __init__(self):
        super().__init__()
        c1, c2, c3, c4 = PYRAMID
        self.feat_encoder = FeatureEncoder()
        self.encoder = nn.Module()
        for index, (cin, cout) in enumerate(zip((3,) + PYRAMID[:-1], PYRAMID), 1):
            self.encoder.add_module(f"pyramid{index}", nn.Sequential(conv_prelu(cin, cout, 3, 2, 1), conv_prelu(cout, cout)))
        self.decoder4 = decoder_block(2 * c4 + 1, 2 * c4, c3 + 4)
        self.decoder3 = decoder_block(3 * c3 + 4, 3 * c3, c2 + 4)
        self.decoder2 = decoder_block(3 * c2 + 4, 3 * c2, c1 + 4)
        self.decoder1 = decoder_block(3 * c1 + 4, 3 * c1, 8 * FLOWS)
        self.update4, self.update3, self.update2 = UpdateBlock(c3, None), UpdateBlock(c2, 2), UpdateBlock(c1, 4)
        self.comb_block = nn.Sequential(nn.Conv2d(3 * FLOWS, 6 * FLOWS, 3, 1, 1), nn.PReLU(6 * FLOWS),
                                        nn.Conv2d(6 * FLOWS, 3, 3, 1, 1))

    def _pyramid(self, image: torch.Tensor) -> list[torch.Tensor]:
        levels = []
        for index in range(1, len(PYRAMID) + 1):
            image = getattr(self.encoder, f"pyramid{index}")(image)
            levels.append(image)
        return levels

    @staticmethod
    def _refine_from_middle(decoder: nn.Module, middle, feats0, feats1, flow0, flow1):
        """A decoder step from a coarser level: warp both frames' features to the middle frame, decode, and add the
        coarser flows upsampled (x2 in size and length)."""
        out = decoder.convblock(torch.cat([middle, warp(feats0, flow0), warp(feats1, flow1), flow0, flow1], 1))
        return out, 2.0 * scaled(flow0, 2.0), 2.0 * scaled(flow1, 2.0)

    def forward(self, image0: torch.Tensor, image1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Frames [b, 3, H, W] in 0..1 (H, W multiples of 16) and t [b or 1, 1, 1, 1] -> the frame at t, 0..1."""
        mean = torch.cat([image0, image1], 2).mean(dim=(1, 2, 3), keepdim=True)
        image0, image1 = image0 - mean, image1 - mean
        batch, _, height, width = image0.shape
        rows, cols = torch.meshgrid(torch.arange(height // 8, device=image0.device),
                                    torch.arange(width // 8, device=image0.device), indexing="ij")
        grid = torch.stack([cols, rows]).float()[None].repeat(batch, 1, 1, 1)
        fmap0, fmap1 = self.feat_encoder(torch.cat([image0, image1])).chunk(2)
        correlation = Correlation(fmap0, fmap1)
        levels0, levels1 = self._pyramid(image0), self._pyramid(image1)

        def corrected(update: UpdateBlock, middle, flow0, flow1, down: int):
            """The update block's correction at 1/8 scale, reading the correlation where the flows, scaled to the
            whole interval (1/t and 1/(1-t)), end."""
            low0, low1 = (flow0, flow1) if down == 1 else (scaled(flow0, 1 / down) / down, scaled(flow1, 1 / down) / down)
            corr = torch.cat(correlation(grid + low1 / t, grid + low0 / (1.0 - t)), 1)
            delta_middle, delta_flow = update(middle, torch.cat([low0, low1], 1), corr)
            return middle + delta_middle, flow0 + delta_flow[:, :2], flow1 + delta_flow[:, 2:]

        out = self.decoder4.convblock(torch.cat([levels0[3], levels1[3], t.repeat(1, 1, *levels0[3].shape[-2:])], 1))
        middle, flow0, flow1 = corrected(self.update4, out[:, 4:], out[:, :2], out[:, 2:4], 1)
        for decoder, update, level, down in ((self.decoder3, self.update3, 2, 2), (self.decoder2, self.update2, 1, 4)):
            out, up0, up1 = self._refine_from_middle(decoder, middle, levels0[level], levels1[level], flow0, flow1)
            middle, flow0, flow1 = corrected(update, out[:, 4:], out[:, :2] + up0, out[:, 2:4] + up1, down)
        out, up0, up1 = self._refine_from_middle(self.decoder1, middle, levels0[0], levels1[0], flow0, flow1)
        flows0, flows1, masks, residuals = torch.split(out, [2 * FLOWS, 2 * FLOWS, FLOWS, 3 * FLOWS], 1)
        flows0, flows1 = flows0 + up0.repeat(1, FLOWS, 1, 1), flows1 + up1.repeat(1, FLOWS, 1, 1)
        return self._blend(image0, image1, flows0, flows1, torch.sigmoid(masks), residuals, mean)

    def _blend(self, image0, image1, flows0, flows1, masks, residuals, mean) -> torch.Tensor:
        """Each of the FLOWS candidates: mask * warp(I0) + (1 - mask) * warp(I1) + mean + residual; their average
        plus `comb_block` of all of them, clipped to 0..1."""
        batch, _, height, width = flows0.shape

        def per_flow(x: torch.Tensor) -> torch.Tensor:  # [b, c, h, w] -> [b * FLOWS, c, h, w], each repeated
            return x.unsqueeze(1).expand(batch, FLOWS, *x.shape[1:]).reshape(-1, *x.shape[1:])

        warped0 = warp(per_flow(image0), flows0.reshape(-1, 2, height, width))
        warped1 = warp(per_flow(image1), flows1.reshape(-1, 2, height, width))
        mask = masks.reshape(-1, 1, height, width)
        candidates = mask * warped0 + (1 - mask) * warped1 + per_flow(mean) + residuals.reshape(-1, 3, height, width)
        candidates = candidates.reshape(batch, FLOWS, 3, height, width)
        return (candidates.mean(1) + self.comb_block(candidates.view(batch, -1, height, width))).clamp(0, 1)
